"""``latm tools``: list, show, export, remove, check and reindex cached tools.

The repository is ``--repo PATH`` (default ``$LATM_REPO`` or ``./.latm``) or a Chroma server
given by ``--chroma-url http://host:port``. Errors print one line and exit with code 1.
"""

from __future__ import annotations

import ast
import json
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlparse

import typer

from langchain_latm.errors import LATMError

if TYPE_CHECKING:
    from langchain_latm.repository import ToolRepository
    from langchain_latm.schemas import WrappedTool

__all__ = ["export_langchain_json", "export_python", "open_repository", "register"]

T = TypeVar("T")

RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="Repository directory (default: $LATM_REPO or ./.latm).",
        show_default=False,
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option("--chroma-url", help="Use a Chroma server, e.g. http://127.0.0.1:8000."),
]
CollectionOpt = Annotated[
    str, typer.Option("--collection", help="Chroma collection name.")
]
EmbeddingOpt = Annotated[
    str | None,
    typer.Option(
        "--embedding",
        help="Embedding: minilm, hashing or hybrid (default: the project default).",
    ),
]


def open_repository(
    repo: Path | None = None,
    chroma_url: str | None = None,
    *,
    collection: str = "latm_tools",
    embedding: str | None = None,
    strict_embedding: bool = False,
) -> ToolRepository:
    """Open the repository the CLI options point at.

    Args:
        repo: Directory of an embedded store (default ``$LATM_REPO`` or ``./.latm``).
        chroma_url: URL of a Chroma server; takes precedence over ``repo``.
        collection: Collection name.
        embedding: ``"minilm"``, ``"hashing"`` or ``"hybrid"`` (default: project default).
        strict_embedding: Raise on an embedding mismatch at open time.
    """
    from langchain_latm.embeddings import default_embeddings, make_embeddings
    from langchain_latm.repository import ToolRepository

    emb = make_embeddings(embedding) if embedding else default_embeddings()
    if chroma_url:
        import chromadb
        from chromadb.config import Settings

        parsed = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if not parsed.hostname:
            raise typer.BadParameter(f"bad --chroma-url {chroma_url!r}")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=Settings(anonymized_telemetry=False),
            )
        except Exception as exc:  # chromadb raises untyped connection errors
            raise LATMError(f"cannot reach the Chroma server at {chroma_url}: {exc}") from exc
        return ToolRepository(
            client=client, collection_name=collection, embeddings=emb,
            strict_embedding=strict_embedding,
        )
    path = repo or Path(os.environ.get("LATM_REPO") or "./.latm")
    return ToolRepository(
        path, collection_name=collection, embeddings=emb, strict_embedding=strict_embedding
    )


@contextmanager
def _cli_errors() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (LATMError, ValueError, OSError) as exc:
            _flush(caught)
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        _flush(caught)


def _flush(caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        typer.echo(f"warning: {item.message}", err=True)


def _run(fn: Callable[[], T]) -> T:
    with _cli_errors():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover


def _on_repository(
    fn: Callable[[ToolRepository], T],
    repo: Path | None,
    chroma_url: str | None,
    *,
    collection: str,
    embedding: str | None = None,
) -> T:
    """Open the repository, apply ``fn`` to it and close it, with the CLI's error handling."""

    def go() -> T:
        with open_repository(repo, chroma_url, collection=collection,
                             embedding=embedding) as repository:
            return fn(repository)

    return _run(go)


def _summary(tool: WrappedTool) -> dict[str, Any]:
    return {
        "name": tool.name,
        "version": tool.version,
        "task": tool.task,
        "verified": tool.verified,
        "tool_id": tool.tool_id,
        "created_at": tool.created_at.isoformat(),
        "description": tool.description,
        "use_cases": len(tool.use_cases),
    }


def _docstring_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def export_python(tool: WrappedTool) -> str:
    """The tool as a Python module: a docstring with description and use cases, then code.

    Args:
        tool: The tool to export.

    Returns:
        Module source text (it parses; nothing is executed).
    """
    lines = [
        f"{tool.name} (version {tool.version}) - {tool.description}".strip(),
        "",
        f"Task: {tool.task}",
        f"Entry point: {tool.entrypoint}",
        f"tool_id: {tool.tool_id}",
        f"Verified: {tool.verification.summary() if tool.verified else 'no'}",
        "Exported by langchain-latm (`latm tools export`).",
    ]
    if tool.use_cases:
        lines += ["", "Use cases:"]
        for case in tool.use_cases:
            lines.append(f"    Question: {case.question}")
            lines.append("    Call:")
            lines += [f"        {line}" for line in case.snippet.splitlines()]
            if case.answer is not None:
                lines.append(f"    Answer: {case.answer}")
            lines.append("")
    doc = _docstring_safe("\n".join(lines).rstrip() + "\n")
    source = f'"""{doc}"""\n\n{tool.code.rstrip()}\n'
    ast.parse(source)
    return source


def export_langchain_json(tool: WrappedTool) -> dict[str, Any]:
    """The tool's LangChain tool-calling schema (OpenAI function format) as a dict.

    Uses :meth:`WrappedTool.as_langchain_tool` when ``langchain_latm.tools`` is available;
    otherwise derives the schema from the entry point's signature (parsed, never run).
    """
    from langchain_core.utils.function_calling import convert_to_openai_tool

    try:
        lc_tool = tool.as_langchain_tool()
    except ImportError:
        return _schema_from_signature(tool)
    return dict(convert_to_openai_tool(lc_tool))


_JSON_TYPES = {
    "str": "string", "int": "integer", "float": "number", "bool": "boolean",
    "list": "array", "dict": "object", "List": "array", "Dict": "object",
}


def _schema_from_signature(tool: WrappedTool) -> dict[str, Any]:
    tree = ast.parse(tool.code)
    func = next(
        (
            n for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == tool.entrypoint
        ),
        None,
    )
    properties: dict[str, Any] = {}
    required: list[str] = []
    doc = ""
    if func is not None:
        doc = ast.get_docstring(func) or ""
        args = func.args.posonlyargs + func.args.args + func.args.kwonlyargs
        n_defaults = len(func.args.defaults)
        positional = func.args.posonlyargs + func.args.args
        for index, arg in enumerate(args):
            prop: dict[str, Any] = {}
            annotation = arg.annotation
            if annotation is not None:
                base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
                type_name = base.id if isinstance(base, ast.Name) else None
                if type_name in _JSON_TYPES:
                    prop["type"] = _JSON_TYPES[type_name]
            properties[arg.arg] = prop
            has_default = (
                index >= len(positional) - n_defaults
                if index < len(positional)
                else func.args.kw_defaults[index - len(positional)] is not None
            )
            if not has_default:
                required.append(arg.arg)
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": (tool.description + ("\n\n" + doc if doc else "")).strip(),
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


def register(app: typer.Typer) -> None:
    """Register the ``tools`` command group on ``app``."""
    tools_app = typer.Typer(
        name="tools", help="Inspect and manage the cached tool repository.",
        no_args_is_help=True,
    )

    @tools_app.command("list")
    def list_cmd(
        repo: RepoOpt = None,
        chroma_url: UrlOpt = None,
        collection: CollectionOpt = "latm_tools",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List the latest version of every stored tool."""
        tools = _on_repository(lambda r: r.list(), repo, chroma_url, collection=collection)
        if as_json:
            typer.echo(json.dumps([_summary(t) for t in tools], indent=2))
            return
        if not tools:
            typer.echo("no tools stored")
            return
        for tool in tools:
            mark = "verified" if tool.verified else "unverified"
            first = (tool.description.splitlines() or [""])[0][:60]
            typer.echo(
                f"{tool.name:<28} v{tool.version:<3} {tool.task:<24} {mark:<10} "
                f"{tool.tool_id[:12]}  {first}"
            )

    @tools_app.command("show")
    def show_cmd(
        name: Annotated[str, typer.Argument(help="Tool name.")],
        version: Annotated[int | None, typer.Option("--version", help="Version.")] = None,
        repo: RepoOpt = None,
        chroma_url: UrlOpt = None,
        collection: CollectionOpt = "latm_tools",
        as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON.")] = False,
    ) -> None:
        """Show one tool: description, code, use cases, verification."""
        tool, versions = _on_repository(lambda r: (r.get(name, version), r.versions(name)),
                                        repo, chroma_url, collection=collection)
        if as_json:
            typer.echo(tool.model_dump_json(indent=2))
            return
        typer.echo(f"{tool.name} v{tool.version} (versions: {versions})  task: {tool.task}")
        typer.echo(f"tool_id: {tool.tool_id}  {tool.verification.summary()}")
        typer.echo(f"description: {tool.description}\n")
        typer.echo(tool.code.rstrip())
        for case in tool.use_cases:
            typer.echo(f"\n# Q: {case.question}\n{case.snippet}")
            if case.answer is not None:
                typer.echo(f"# -> {case.answer}")

    @tools_app.command("export")
    def export_cmd(
        name: Annotated[str, typer.Argument(help="Tool name.")],
        fmt: Annotated[
            str, typer.Option("--format", help="py (module) or langchain-json (tool schema).")
        ] = "py",
        out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
        version: Annotated[int | None, typer.Option("--version", help="Version.")] = None,
        repo: RepoOpt = None,
        chroma_url: UrlOpt = None,
        collection: CollectionOpt = "latm_tools",
    ) -> None:
        """Export a tool as a Python module or a LangChain tool schema (JSON)."""
        if fmt not in ("py", "langchain-json"):
            typer.echo(f"error: unknown format {fmt!r} (use py or langchain-json)", err=True)
            raise typer.Exit(1)

        tool = _on_repository(lambda r: r.get(name, version), repo, chroma_url,
                              collection=collection)
        text = _run(lambda: export_python(tool) if fmt == "py"
                    else json.dumps(export_langchain_json(tool), indent=2) + "\n")
        if out is None:
            typer.echo(text, nl=False)
        else:
            _run(lambda: out.write_text(text, encoding="utf-8"))
            typer.echo(f"wrote {out}")

    @tools_app.command("remove")
    def remove_cmd(
        name: Annotated[str, typer.Argument(help="Tool name.")],
        version: Annotated[
            int | None, typer.Option("--version", help="Only this version.")
        ] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
        repo: RepoOpt = None,
        chroma_url: UrlOpt = None,
        collection: CollectionOpt = "latm_tools",
    ) -> None:
        """Remove a tool (all versions, or one with --version)."""
        what = f"{name} v{version}" if version is not None else f"{name} (all versions)"
        if not yes and not typer.confirm(f"remove {what}?"):
            raise typer.Exit(1)
        count = _on_repository(lambda r: r.remove(name, version), repo, chroma_url,
                               collection=collection)
        typer.echo(f"removed {count} version(s) of {name}")

    @tools_app.command("reindex")
    def reindex_cmd(
        repo: RepoOpt = None,
        chroma_url: UrlOpt = None,
        collection: CollectionOpt = "latm_tools",
        embedding: EmbeddingOpt = None,
    ) -> None:
        """Rebuild every vector from the stored tools with the configured embedding."""
        count, embedding_id = _on_repository(lambda r: (r.reindex(), r.embedding_id), repo,
                                             chroma_url, collection=collection,
                                             embedding=embedding)
        typer.echo(f"reindexed {count} record(s) with {embedding_id}")

    @tools_app.command("check")
    def check_cmd(
        repo: RepoOpt = None,
        chroma_url: UrlOpt = None,
        collection: CollectionOpt = "latm_tools",
        embedding: EmbeddingOpt = None,
    ) -> None:
        """Report tampered, unreadable or orphan records (exit 1 if any)."""
        problems = _on_repository(lambda r: r.check(), repo, chroma_url,
                                  collection=collection, embedding=embedding)
        for problem in problems:
            typer.echo(f"{problem.kind}: {problem.record_id}: {problem.message}")
        if problems:
            raise typer.Exit(1)
        typer.echo("ok: no problems found")

    app.add_typer(tools_app, name="tools")
