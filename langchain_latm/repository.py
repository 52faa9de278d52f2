"""The tool repository: cached tools in one Chroma collection, found by meaning.

Storage layout (one Chroma collection, cosine space, the single source of truth):

* One **designated record** per tool version, id ``{name}@v{version}``: document = the
  tool's description, metadata = ``latm``, ``kind="tool"``, ``name``, ``version``,
  ``task``, ``tool_id``, ``created_at``, ``stored_at``, ``embedding_id``, ``verified`` and
  ``tool_json`` (the full :class:`~langchain_latm.schemas.WrappedTool` JSON).
* One **use-case record** per use-case question, id
  ``{name}@v{version}#{i}.{tool_id[:8]}``: document = the question, ``kind="usecase"``.

All records of a version are written in ONE ``collection.add`` call. A version exists only
if its designated record exists and its vectors carry the same ``tool_id``, so a writer
killed mid-write leaves the old or the new version, never half of one.

Search runs over an in-memory matrix of the vectors (a **cache** derived from the store,
never written to): it is reloaded whenever the store's change token (collection id,
record count and a generation stamp bumped by every write) differs, and the tools of the
hits are re-read from Chroma and checked against their recorded ``tool_id`` before they
are returned. This keeps search fast (a matrix product) and correct across processes
(Chroma's embedded HNSW index does not see other processes' writes).

Concurrency: in embedded mode writers serialise on ``fcntl.flock`` of ``<path>/latm.lock``;
with a server, versions are claimed by deterministic ids (``add`` never overwrites an
existing id) and re-read after the write: a writer that lost the race retries with the
next version.

Embedded, several processes: each process's Chroma keeps its own in-memory vector segment
and applies other processes' writes only when it writes itself, so a read of vectors can
fail (``Error finding id``) or return the old vector of a re-used id. The cache load
therefore runs under the same lock, after a no-op write (deleting an id that never exists)
whenever the store's generation is not one this process wrote or synced. Vectors are read
by id, unchanged ones are reused from the previous cache, and an id whose vector Chroma
still cannot return (a server applying a write) is retried, isolated by bisection and, as a
last resort, re-embedded from its stored text.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from pydantic import BaseModel, ValidationError

from langchain_latm.embeddings import (
    _as_array,
    _as_query_array,
    default_embeddings,
    embedding_id_of,
)
from langchain_latm.errors import (
    EmbeddingMismatchError,
    RepositoryError,
    TamperedToolError,
    ToolNotFoundError,
    ToolValidationError,
)
from langchain_latm.schemas import WrappedTool

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from numpy.typing import NDArray

    from langchain_latm.tools import ToolRetriever

__all__ = ["RepositoryProblem", "TamperedToolWarning", "ToolRepository"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_LOCK_FILE = "latm.lock"
_MAX_CLAIM_ATTEMPTS = 50
_PAGE = 2000
_SYNC_ID = "__latm_sync__"  # never stored: deleting it is a no-op write (see _sync_segments)
_VECTOR_READ_ATTEMPTS = 4

Aggregate = Literal["max", "centroid"]
_Records = list[tuple[str, dict[str, Any]]]
_Strs = list[str]
_Vectors = list[list[float]]
_Metas = list[dict[str, Any]]


class TamperedToolWarning(UserWarning):
    """Emitted by :meth:`ToolRepository.list` when it skips a tampered or unreadable record."""


class RepositoryProblem(BaseModel):
    """One problem found by :meth:`ToolRepository.check`.

    Attributes:
        record_id: The Chroma record id.
        name: Tool name, when known.
        version: Tool version, when known.
        kind: ``"tampered"``, ``"unreadable"``, ``"orphan"``, ``"foreign"`` or
            ``"embedding_mismatch"``.
        message: What is wrong and what to do.
    """

    record_id: str
    name: str | None = None
    version: int | None = None
    kind: str
    message: str


def _utc_iso() -> str:
    return datetime.now(UTC).isoformat()


def _designated_id(name: str, version: int) -> str:
    return f"{name}@v{version}"


def _usecase_id(name: str, version: int, index: int, tool_id: str) -> str:
    return f"{name}@v{version}#{index}.{tool_id[:8]}"


def _texts_for(tool: WrappedTool) -> list[str]:
    """The indexed texts: description first, then each distinct use-case question."""
    description = tool.description.strip() or f"{tool.name}: {tool.task}"
    texts = [description]
    seen = {description}
    for case in tool.use_cases:
        question = case.question.strip()
        if question and question not in seen:
            seen.add(question)
            texts.append(question)
    return texts


@dataclass
class _Mirror:
    """In-memory cache of the vectors, grouped per tool version (rows sorted by group)."""

    token: tuple[str, str]
    matrix: NDArray[np.float32]
    starts: NDArray[np.intp]
    centroids: NDArray[np.float32]
    groups: list[tuple[str, int, str]]  # (name, version, tool_id) per group
    latest_mask: NDArray[np.bool_]
    latest: dict[str, int] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # designated metadata
    parsed: dict[str, WrappedTool | RepositoryError] = field(default_factory=dict)
    # record id -> (freshness key, row in ``matrix``): lets the next load reuse vectors
    vectors: dict[str, tuple[str, int]] = field(default_factory=dict)


class _FileLock:
    """Inter-process lock: ``fcntl.flock`` on a file (plus a thread lock for this process)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._thread_lock = threading.RLock()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self.path is None:
                yield
                return
            import fcntl

            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


class _Closed:
    """Stands in for the client and collection of a closed repository."""

    def __init__(self, location: str) -> None:
        self.location = location

    def __getattr__(self, name: str) -> Any:
        raise RepositoryError(f"the tool repository {self.location} is closed")


class ToolRepository:
    """Cached tools, versioned, in one Chroma collection (embedded or on a server).

    Args:
        path: Directory of the embedded Chroma store (created if missing); ignored when
            ``client`` is given. Default ``./.latm``.
        client: Any Chroma client, e.g. ``chromadb.HttpClient(host=..., port=...)``.
        collection_name: Name of the collection (3-512 chars of ``[a-zA-Z0-9._-]``).
        embeddings: Any LangChain ``Embeddings``; default
            :func:`~langchain_latm.embeddings.default_embeddings` (offline).
        embedding_id: Identifier recorded for the embedding (default: derived from it).
        reindex: If the store was built with another embedding, rebuild its vectors now
            instead of raising :class:`~langchain_latm.errors.EmbeddingMismatchError`.
        strict_embedding: If False, a mismatched store still opens (for listing,
            exporting, removing); only operations that need vectors raise.
        aggregate: How a tool's vectors are scored: ``"max"`` (max cosine over the
            description and use-case questions) or ``"centroid"`` (cosine to their mean).
        query_cache_size: How many query embeddings to keep (LRU); 0 disables.
        refresh_interval: Seconds during which :meth:`search` trusts its in-memory vector
            cache without asking the store whether another process wrote (0 = always ask,
            ~2-3 ms per search). Writes made through this instance are always seen at once.
        exact_rows_limit: Opt-in approximation for very large stores: above this many
            vectors, ``aggregate="max"`` search first ranks tools by centroid and computes
            the exact max-sim only for the best ``max(64, 8*k)`` tools. ``None`` (default)
            always scans every vector exactly (memory-bound: 40,000 x 384 floats per
            query). ``aggregate="centroid"`` is exact and scans one vector per tool.

    Raises:
        RepositoryError: The store cannot be opened, or the collection is not ours.
        EmbeddingMismatchError: The store was indexed with another embedding.

    Example:
        >>> repo = ToolRepository(path="./.latm")
        >>> stored = repo.add(tool)
        >>> repo.search("Sort these words: pear apple", k=3)
        [(WrappedTool(name='sort_words', ...), 0.83)]
    """

    def __init__(
        self,
        path: str | Path | None = "./.latm",
        *,
        client: Any = None,
        collection_name: str = "latm_tools",
        embeddings: Embeddings | None = None,
        embedding_id: str | None = None,
        reindex: bool = False,
        strict_embedding: bool = True,
        aggregate: Aggregate = "max",
        query_cache_size: int = 256,
        refresh_interval: float = 0.0,
        exact_rows_limit: int | None = None,
    ) -> None:
        if aggregate not in ("max", "centroid"):
            raise ValueError(f"aggregate must be 'max' or 'centroid', got {aggregate!r}")
        self.collection_name = collection_name
        self.aggregate: Aggregate = aggregate
        self._embeddings = embeddings if embeddings is not None else default_embeddings()
        self.embedding_id = embedding_id or embedding_id_of(self._embeddings)
        self._query_cache: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._query_cache_size = max(0, query_cache_size)
        self._cache_lock = threading.Lock()
        self._mirror: _Mirror | None = None
        self._previous_mirror: _Mirror | None = None  # vectors reused by the next load
        self._synced_generation: str | None = None  # embedded: segments current up to this
        self._log_writes = 0  # record writes/deletes that succeeded (see _bump_generation)
        self._mirror_lock = threading.Lock()
        self._mirror_checked_at = 0.0
        self.refresh_interval = max(0.0, refresh_interval)
        self.exact_rows_limit = exact_rows_limit
        self.path: Path | None
        if client is None:
            if path is None:
                raise ValueError("give a path for an embedded store or a client for a server")
            self.path = Path(path).expanduser().resolve()
            self._client = self._open_embedded(self.path)
        else:
            self._client = client
            self.path = self._client_path(client)
        self._owns_client = client is None
        self._lock = _FileLock(self.path / _LOCK_FILE if self.path is not None else None)
        self._mismatch: EmbeddingMismatchError | None = None
        try:
            self._open(reindex=reindex, strict_embedding=strict_embedding)
        except BaseException:
            if self._owns_client:  # a store that cannot be used is not left open
                self._client.close()
            raise

    def _open(self, *, reindex: bool, strict_embedding: bool) -> None:
        self._collection = self._open_collection()
        stored = str((self._collection.metadata or {}).get("latm_embedding_id", ""))
        if stored != self.embedding_id:
            error = EmbeddingMismatchError(
                f"the tool repository {self.location} was indexed with embedding {stored!r} "
                f"but {self.embedding_id!r} is configured; run `latm tools reindex` "
                "(or ToolRepository(..., reindex=True)) to rebuild the index from the stored "
                "tools",
                stored=stored,
                configured=self.embedding_id,
            )
            if reindex:
                self.reindex()
            elif strict_embedding:
                raise error
            else:
                self._mismatch = error

    # ---------------------------------------------------------------- opening

    @staticmethod
    def _open_embedded(path: Path) -> Any:
        import chromadb
        from chromadb.config import Settings

        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RepositoryError(f"cannot create the tool repository at {path}: {exc}") from exc
        try:
            return chromadb.PersistentClient(
                path=str(path), settings=Settings(anonymized_telemetry=False)
            )
        except Exception as exc:  # chromadb/sqlite raise many untyped errors
            raise RepositoryError(
                f"cannot open the Chroma store at {path} (corrupt or not a Chroma store?): "
                f"{type(exc).__name__}: {exc}. Nothing was changed on disk."
            ) from exc

    @staticmethod
    def _client_path(client: Any) -> Path | None:
        try:
            settings = client.get_settings()
        except (AttributeError, NotImplementedError):  # not every client exposes settings
            return None
        if getattr(settings, "is_persistent", False) and getattr(
            settings, "persist_directory", None
        ):
            return Path(settings.persist_directory).resolve()
        return None

    @property
    def location(self) -> str:
        """Human-readable location of the store (path or server)."""
        if self.path is not None:
            return str(self.path)
        if isinstance(self._client, _Closed):
            return self._client.location
        try:
            settings = self._client.get_settings()
            host = settings.chroma_server_host
            port = settings.chroma_server_http_port
            return f"chroma://{host}:{port}/{self.collection_name}"
        except AttributeError:  # best effort, only for messages
            return f"<chroma client>/{self.collection_name}"

    @property
    def embeddings(self) -> Embeddings:
        """The embedding used to index tools and queries."""
        return self._embeddings

    def _new_collection_metadata(self) -> dict[str, Any]:
        return {
            "latm_schema": SCHEMA_VERSION,
            "latm_embedding_id": self.embedding_id,
            "latm_generation": uuid.uuid4().hex,
        }

    def _open_collection(self) -> Any:
        from chromadb.errors import NotFoundError

        self._recover_interrupted_reindex()
        try:
            collection = self._client.get_collection(self.collection_name)
        except NotFoundError:
            collection = None
        except Exception as exc:
            raise self._store_error("open", exc) from exc
        if collection is None:
            try:
                collection = self._client.create_collection(
                    self.collection_name,
                    embedding_function=None,
                    metadata=self._new_collection_metadata(),
                    configuration={"hnsw": {"space": "cosine"}},
                )
            except Exception as create_error:  # noqa: BLE001 - re-raised below if not a race
                try:  # lost a creation race: open the winner's collection
                    collection = self._client.get_collection(self.collection_name)
                except Exception as exc:
                    raise self._store_error("create", create_error) from exc
        meta = collection.metadata or {}
        if "latm_schema" not in meta or "latm_embedding_id" not in meta:
            raise RepositoryError(
                f"the Chroma collection {self.collection_name!r} at {self.location} exists but "
                "was not created by langchain-latm (no latm metadata); it was left untouched. "
                "Use another collection_name or path."
            )
        if int(meta.get("latm_schema", 0)) > SCHEMA_VERSION:
            raise RepositoryError(
                f"the tool repository at {self.location} uses schema {meta['latm_schema']}, "
                f"newer than this langchain-latm (schema {SCHEMA_VERSION}); upgrade langchain-latm"
            )
        return collection

    def _store_error(self, action: str, exc: BaseException) -> RepositoryError:
        return RepositoryError(
            f"cannot {action} the tool repository at {self.location}: "
            f"{type(exc).__name__}: {exc}"
        )

    def _recover_interrupted_reindex(self) -> None:
        """Finish or roll back a reindex that was killed during its collection swap."""
        try:
            names = {
                c if isinstance(c, str) else c.name for c in self._client.list_collections()
            }
        except Exception as exc:
            raise self._store_error("list collections of", exc) from exc
        main, new, old = (
            self.collection_name,
            f"{self.collection_name}__reindex",
            f"{self.collection_name}__old",
        )
        if main in names:
            return
        if new in names:
            coll = self._client.get_collection(new)
            if (coll.metadata or {}).get("latm_reindex_complete"):
                coll.modify(name=main)
                logger.warning("finished an interrupted reindex of %s", self.location)
                with contextlib.suppress(Exception):
                    self._client.delete_collection(old)
                return
        if old in names:
            self._client.get_collection(old).modify(name=main)
            logger.warning("rolled back an interrupted reindex of %s", self.location)

    # ---------------------------------------------------------------- low-level reads

    def _col(self) -> Any:
        return self._collection

    def _get(self, **kwargs: Any) -> dict[str, Any]:
        try:
            return cast("dict[str, Any]", self._col().get(**kwargs))
        except Exception as exc:
            if "does not exist" in str(exc):
                # The collection was swapped by a reindex in another process: reopen.
                self._collection = self._open_collection()
                return cast("dict[str, Any]", self._col().get(**kwargs))
            raise self._store_error("read", exc) from exc

    def _designated_records(self, name: str | None = None) -> _Records:
        where: dict[str, Any] = {"kind": "tool"}
        if name is not None:
            where = {"$and": [{"kind": "tool"}, {"name": name}]}
        result = self._get(where=where, include=["metadatas"])
        return list(zip(result["ids"], result["metadatas"] or [], strict=True))

    def _parse(self, record_id: str, meta: dict[str, Any]) -> WrappedTool:
        """Parse and verify one designated record; raise on corruption or tampering."""
        name = str(meta.get("name", "?"))
        raw = meta.get("tool_json")
        if not isinstance(raw, str):
            raise RepositoryError(
                f"record {record_id!r} in {self.location} has no tool JSON; run `latm tools "
                "check` to list damaged records"
            )
        try:
            tool = WrappedTool.model_validate_json(raw)
            claimed = json.loads(raw).get("tool_id")
        except (ValidationError, ValueError) as exc:
            raise TamperedToolError(
                f"stored tool {record_id!r} in {self.location} is unreadable or invalid "
                f"({exc.__class__.__name__}); it was edited or damaged after it was stored. "
                "Remove it and add a re-verified tool.",
                name=name,
                expected_id=str(meta.get("tool_id", "")),
                actual_id="<unreadable>",
            ) from exc
        recorded = str(meta.get("tool_id", ""))
        version = meta.get("version")
        if (
            tool.tool_id != recorded
            or (claimed is not None and claimed != recorded)
            or tool.name != name
            or tool.version != version
            or record_id != _designated_id(tool.name, tool.version)
        ):
            raise TamperedToolError(
                f"stored tool {record_id!r} in {self.location} was modified after it was "
                f"stored: its content hashes to {tool.tool_id} but {recorded} was recorded. "
                "It is refused until it is re-verified and added again "
                f"(`latm tools remove {name}` to drop it).",
                name=name,
                expected_id=recorded,
                actual_id=tool.tool_id,
            )
        return tool

    @staticmethod
    def _version_of(meta: dict[str, Any]) -> int:
        version = meta.get("version")
        return version if isinstance(version, int) else 0

    # ---------------------------------------------------------------- public reads

    def get(self, name: str, version: int | None = None) -> WrappedTool:
        """Fetch a stored tool.

        Args:
            name: The tool's name.
            version: A specific version; the latest when omitted.

        Returns:
            The stored tool, checked against its recorded ``tool_id``.

        Raises:
            ToolNotFoundError: No such tool or version.
            TamperedToolError: The stored content was modified after it was stored.
        """
        if version is not None:
            result = self._get(ids=[_designated_id(name, version)], include=["metadatas"])
            if not result["ids"]:
                raise ToolNotFoundError(
                    f"no version {version} of tool {name!r} in {self.location} "
                    f"(versions: {self.versions(name) or 'none'})"
                )
            return self._parse(result["ids"][0], result["metadatas"][0])
        records = self._designated_records(name)
        if not records:
            raise ToolNotFoundError(f"no tool named {name!r} in {self.location}")
        record_id, meta = max(records, key=lambda r: self._version_of(r[1]))
        return self._parse(record_id, meta)

    def versions(self, name: str) -> builtins.list[int]:
        """All stored versions of a tool, ascending (empty if the tool is unknown)."""
        return sorted(self._version_of(m) for _, m in self._designated_records(name))

    def list(self, *, strict: bool = False) -> builtins.list[WrappedTool]:
        """The latest version of every stored tool, sorted by name.

        A tool whose latest version was tampered with or is unreadable is skipped with a
        :class:`TamperedToolWarning` (never returned, never replaced by an older version);
        :meth:`check` lists such records.

        Args:
            strict: Raise :class:`~langchain_latm.errors.TamperedToolError` instead of
                skipping.
        """
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        for record_id, meta in self._designated_records():
            name = str(meta.get("name", ""))
            current = latest.get(name)
            if current is None or self._version_of(meta) > self._version_of(current[1]):
                latest[name] = (record_id, meta)
        tools: builtins.list[WrappedTool] = []
        for name in sorted(latest):
            record_id, meta = latest[name]
            try:
                tools.append(self._parse(record_id, meta))
            except RepositoryError as exc:
                if strict:
                    raise
                warnings.warn(f"skipped {record_id}: {exc}", TamperedToolWarning, stacklevel=2)
        return tools

    def __len__(self) -> int:
        """Number of stored tools (names), counting latest versions only."""
        return len({str(m.get("name")) for _, m in self._designated_records()})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._designated_records(name))

    def check(self) -> builtins.list[RepositoryProblem]:
        """Scan every record and report problems without raising or changing anything.

        Returns:
            Tampered or unreadable tools, orphan vectors (of versions whose tool record is
            missing), records not written by langchain-latm and an embedding mismatch.
        """
        problems: builtins.list[RepositoryProblem] = []
        if self._mismatch is not None:
            problems.append(
                RepositoryProblem(
                    record_id="*", kind="embedding_mismatch", message=str(self._mismatch)
                )
            )
        result = self._get(include=["metadatas"])
        tool_ids: dict[tuple[str, int], str] = {}
        others: builtins.list[tuple[str, dict[str, Any]]] = []
        for record_id, meta in zip(result["ids"], result["metadatas"] or [], strict=True):
            meta = meta or {}
            if meta.get("latm") != SCHEMA_VERSION:
                problems.append(
                    RepositoryProblem(
                        record_id=record_id,
                        kind="foreign",
                        message="record was not written by langchain-latm; it is ignored",
                    )
                )
                continue
            if meta.get("kind") != "tool":
                others.append((record_id, meta))
                continue
            name, version = str(meta.get("name")), self._version_of(meta)
            tool_ids[(name, version)] = str(meta.get("tool_id"))
            try:
                self._parse(record_id, meta)
            except RepositoryError as exc:
                kind = "unreadable" if "unreadable" in str(exc) else "tampered"
                problems.append(
                    RepositoryProblem(
                        record_id=record_id, name=name, version=version, kind=kind,
                        message=str(exc),
                    )
                )
        for record_id, meta in others:
            key = (str(meta.get("name")), self._version_of(meta))
            if tool_ids.get(key) != meta.get("tool_id"):
                problems.append(
                    RepositoryProblem(
                        record_id=record_id, name=key[0], version=key[1], kind="orphan",
                        message="vector of a tool version that is not stored (interrupted or "
                        "lost concurrent write); it is ignored by search",
                    )
                )
        return problems

    # ---------------------------------------------------------------- writes

    def _validated(self, tool: WrappedTool | dict[str, Any]) -> WrappedTool:
        try:
            data = tool.model_dump() if isinstance(tool, WrappedTool) else tool
            if not isinstance(data, dict):
                raise TypeError(f"expected a WrappedTool, got {type(tool).__name__}")
            data = {k: v for k, v in data.items() if k != "tool_id"}
            return WrappedTool.model_validate(data)
        except (ValidationError, TypeError) as exc:
            raise ToolValidationError(f"invalid tool, not stored: {exc}") from exc

    def _require_embedding_match(self) -> None:
        if self._mismatch is not None:
            raise self._mismatch

    def _embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = _as_array(self._embeddings, texts)
        if vectors.shape[0] != len(texts):
            raise RepositoryError(
                f"embedding {self.embedding_id!r} returned {vectors.shape[0]} vectors for "
                f"{len(texts)} texts"
            )
        return vectors

    def _records_for(
        self, tool: WrappedTool, vectors: NDArray[np.float32], texts: Sequence[str]
    ) -> tuple[_Strs, _Vectors, _Strs, _Metas]:
        now = _utc_iso()
        base: dict[str, Any] = {
            "latm": SCHEMA_VERSION,
            "name": tool.name,
            "version": tool.version,
            "task": tool.task,
            "tool_id": tool.tool_id,
            "created_at": tool.created_at.isoformat(),
            "stored_at": now,
            "embedding_id": self.embedding_id,
            "verified": tool.verified,
        }
        ids = [_designated_id(tool.name, tool.version)]
        metas = [{**base, "kind": "tool", "tool_json": tool.model_dump_json()}]
        for i in range(1, len(texts)):
            ids.append(_usecase_id(tool.name, tool.version, i, tool.tool_id))
            metas.append({**base, "kind": "usecase"})
        return ids, vectors.tolist(), list(texts), metas

    def _bump_generation(self, *, synced: bool) -> None:
        """Mark the store as changed (other instances reload their vector cache).

        ``synced``: a record write or delete of ours succeeded under the lock, which made
        this process's Chroma segments current (see :meth:`_sync_segments`); a no-op add
        writes no record and does not.

        Keeps the recorded embedding id as it is in the store: only creation and
        :meth:`reindex` set it (a lenient instance with another embedding must not).
        """
        try:
            collection = self._client.get_collection(self.collection_name)
            self._collection = collection
            meta = {
                k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")
            }
            meta.setdefault("latm_schema", SCHEMA_VERSION)
            meta.setdefault("latm_embedding_id", self.embedding_id)
            generation = uuid.uuid4().hex
            meta["latm_generation"] = generation
            collection.modify(metadata=meta)
        except Exception as exc:
            raise self._store_error("update", exc) from exc
        if synced:  # only then are this process's Chroma segments known to be current
            self._synced_generation = generation
        self._invalidate_mirror()

    def add(self, tool: WrappedTool) -> WrappedTool:
        """Store a tool as a new version (or return the stored one if nothing changed).

        The version is the next free number for the tool's name. If the latest stored
        version has the same ``tool_id`` (same name, code and use cases) and is at least as
        verified, nothing is written and that version is returned.

        Args:
            tool: Any valid tool (verified or hand-written); its ``version`` is ignored.

        Returns:
            The tool as stored, with its assigned ``version``.

        Raises:
            ToolValidationError: The tool fails validation.
            EmbeddingMismatchError: The store was built with another embedding.
            RepositoryError: The store could not be written.
        """
        return self.add_many([tool])[0]

    def add_many(self, tools: Sequence[WrappedTool]) -> builtins.list[WrappedTool]:
        """Store several tools with one embedding pass and few writes (bulk indexing).

        Same semantics as :meth:`add` for each tool, in order.
        """
        self._require_embedding_match()
        valid = [self._validated(t) for t in tools]
        if not valid:
            return []
        texts = [_texts_for(t) for t in valid]
        flat = [text for group in texts for text in group]
        vectors = self._embed_documents(flat)
        per_tool: builtins.list[NDArray[np.float32]] = []
        offset = 0
        for group in texts:
            per_tool.append(vectors[offset : offset + len(group)])
            offset += len(group)
        with self._lock.hold():
            writes = self._log_writes
            try:
                return self._add_locked(valid, texts, per_tool)
            finally:
                self._bump_generation(synced=self._log_writes != writes)

    def _latest_by_name(self, names: set[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        if len(names) == 1:
            records = self._designated_records(next(iter(names)))
        else:
            records = self._designated_records()
        for _, meta in records:
            name = str(meta.get("name"))
            if name in names:
                version = self._version_of(meta)
                if name not in latest or version > latest[name][0]:
                    latest[name] = (version, meta)
        return latest

    def _add_locked(
        self,
        tools: builtins.list[WrappedTool],
        texts: builtins.list[builtins.list[str]],
        vectors: builtins.list[NDArray[np.float32]],
    ) -> builtins.list[WrappedTool]:
        latest = self._latest_by_name({t.name for t in tools})
        results: builtins.list[WrappedTool | None] = [None] * len(tools)
        pending: builtins.list[tuple[int, WrappedTool]] = []
        next_version: dict[str, int] = {}
        for index, tool in enumerate(tools):
            current = latest.get(tool.name)
            if current is not None and current[1].get("tool_id") == tool.tool_id and (
                bool(current[1].get("verified")) or not tool.verified
            ):
                results[index] = self._parse(_designated_id(tool.name, current[0]), current[1])
                continue
            version = next_version.get(tool.name, (current[0] if current else 0) + 1)
            next_version[tool.name] = version + 1
            stored = tool.model_copy(update={"version": version})
            pending.append((index, stored))
            # a later duplicate in the same batch is a no-op against this one
            latest[tool.name] = (
                version,
                {"tool_id": stored.tool_id, "verified": stored.verified, "_pending": True},
            )
        batch_size = self._max_batch_size()
        for chunk in self._chunks(pending, texts, batch_size):
            ids: builtins.list[str] = []
            embs: builtins.list[builtins.list[float]] = []
            docs: builtins.list[str] = []
            metas: builtins.list[dict[str, Any]] = []
            for index, stored in chunk:
                i, e, d, m = self._records_for(stored, vectors[index], texts[index])
                ids += i
                embs += e
                docs += d
                metas += m
            self._write(ids, embs, docs, metas)
            claimed = self._get(
                ids=[_designated_id(s.name, s.version) for _, s in chunk], include=["metadatas"]
            )
            by_id = dict(zip(claimed["ids"], claimed["metadatas"] or [], strict=True))
            for index, stored in chunk:
                record_id = _designated_id(stored.name, stored.version)
                meta = by_id.get(record_id)
                if meta is not None and meta.get("tool_id") == stored.tool_id:
                    results[index] = self._parse(record_id, meta)
                else:
                    results[index] = self._confirm(stored, texts[index], vectors[index])
        for index, result in enumerate(results):
            if result is None:  # a duplicate within the batch: resolve to the stored one
                results[index] = self.get(tools[index].name)
        return [r for r in results if r is not None]

    def _max_batch_size(self) -> int:
        try:
            return max(1, int(self._client.get_max_batch_size()))
        except (AttributeError, NotImplementedError):  # older clients
            return 1000

    @staticmethod
    def _chunks(
        pending: builtins.list[tuple[int, WrappedTool]],
        texts: builtins.list[builtins.list[str]],
        limit: int,
    ) -> Iterator[builtins.list[tuple[int, WrappedTool]]]:
        chunk: builtins.list[tuple[int, WrappedTool]] = []
        size = 0
        for item in pending:
            n = len(texts[item[0]])
            if chunk and size + n > limit:
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += n
        if chunk:
            yield chunk

    def _write(
        self,
        ids: builtins.list[str],
        embeddings: builtins.list[builtins.list[float]],
        documents: builtins.list[str],
        metadatas: builtins.list[dict[str, Any]],
    ) -> None:
        try:
            self._col().add(
                ids=ids, embeddings=embeddings, documents=documents, metadatas=metadatas
            )
            self._log_writes += 1
        except Exception as exc:
            text = str(exc)
            if "dimension" in text:
                raise EmbeddingMismatchError(
                    f"the tool repository {self.location} holds vectors of another dimension "
                    f"than embedding {self.embedding_id!r} produces; run `latm tools reindex`",
                    stored=str((self._col().metadata or {}).get("latm_embedding_id", "?")),
                    configured=self.embedding_id,
                ) from exc
            raise self._store_error("write", exc) from exc

    def _confirm(
        self, stored: WrappedTool, texts: builtins.list[str], vectors: NDArray[np.float32]
    ) -> WrappedTool:
        """Re-read the designated record; if another writer took the version, retry."""
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            record_id = _designated_id(stored.name, stored.version)
            result = self._get(ids=[record_id], include=["metadatas"])
            if result["ids"] and result["metadatas"][0].get("tool_id") == stored.tool_id:
                return self._parse(record_id, result["metadatas"][0])
            # Lost the race for this version (server mode): drop our vectors, try the next.
            logger.info("version %s was taken by another writer; retrying", record_id)
            with contextlib.suppress(Exception):
                self._col().delete(
                    ids=[
                        _usecase_id(stored.name, stored.version, i, stored.tool_id)
                        for i in range(1, len(texts))
                    ]
                )
            current = self._latest_by_name({stored.name}).get(stored.name)
            if current is not None and current[1].get("tool_id") == stored.tool_id:
                return self._parse(_designated_id(stored.name, current[0]), current[1])
            latest = current[0] if current is not None else 0
            stored = stored.model_copy(update={"version": max(latest, stored.version) + 1})
            ids, embs, docs, metas = self._records_for(stored, vectors, texts)
            self._write(ids, embs, docs, metas)
        raise RepositoryError(
            f"could not claim a version for tool {stored.name!r} after "
            f"{_MAX_CLAIM_ATTEMPTS} attempts (heavy concurrent writing?)"
        )

    def remove(self, name: str, version: int | None = None) -> int:
        """Delete a tool (every version) or one version of it.

        Args:
            name: The tool's name.
            version: Only this version; all versions when omitted.

        Returns:
            How many versions were removed.

        Raises:
            ToolNotFoundError: No such tool or version.
        """
        with self._lock.hold():
            versions = self.versions(name)
            if version is not None:
                if version not in versions:
                    raise ToolNotFoundError(
                        f"no version {version} of tool {name!r} in {self.location}"
                    )
                where: dict[str, Any] = {"$and": [{"name": name}, {"version": version}]}
                count = 1
            else:
                if not versions:
                    raise ToolNotFoundError(f"no tool named {name!r} in {self.location}")
                where = {"name": name}
                count = len(versions)
            removed = [version] if version is not None else versions
            writes = self._log_writes
            try:
                # designated records first: the version disappears atomically for readers
                self._col().delete(ids=[_designated_id(name, v) for v in removed])
                self._col().delete(where=where)
                self._log_writes += 1
            except Exception as exc:
                raise self._store_error("delete from", exc) from exc
            finally:
                self._bump_generation(synced=self._log_writes != writes)
            return count

    # ---------------------------------------------------------------- reindex

    def reindex(self, *, batch_size: int = 256) -> int:
        """Rebuild every vector from the stored records with the configured embedding.

        Records (ids, documents, metadata, tool JSON) are copied unchanged into a new
        collection with fresh vectors, which then replaces the old one (rename swap; an
        interrupted swap is finished or rolled back on the next open). Tampered records are
        copied as they are, so they stay detectable.

        Returns:
            Number of records re-embedded.
        """
        with self._lock.hold():
            source = self._col()
            result = source.get(include=["metadatas", "documents"])
            ids: builtins.list[str] = result["ids"]
            docs: builtins.list[str] = [d or "" for d in (result["documents"] or [""] * len(ids))]
            metas: _Metas = [dict(m or {}) for m in (result["metadatas"] or [])]
            for meta in metas:
                if meta.get("latm") == SCHEMA_VERSION:
                    meta["embedding_id"] = self.embedding_id
            tmp_name = f"{self.collection_name}__reindex"
            old_name = f"{self.collection_name}__old"
            with contextlib.suppress(Exception):
                self._client.delete_collection(tmp_name)
            target = self._client.create_collection(
                tmp_name,
                embedding_function=None,
                metadata={**self._new_collection_metadata(), "latm_reindex_complete": False},
                configuration={"hnsw": {"space": "cosine"}},
            )
            limit = min(batch_size, self._max_batch_size())
            for start in range(0, len(ids), limit):
                chunk = slice(start, start + limit)
                vectors = self._embed_documents(docs[chunk])
                target.add(
                    ids=ids[chunk],
                    embeddings=vectors.tolist(),
                    documents=docs[chunk],
                    metadatas=metas[chunk],
                )
            target.modify(
                metadata={**self._new_collection_metadata(), "latm_reindex_complete": True}
            )
            with contextlib.suppress(Exception):
                self._client.delete_collection(old_name)
            source.modify(name=old_name)
            target.modify(name=self.collection_name)
            target.modify(metadata=self._new_collection_metadata())
            self._client.delete_collection(old_name)
            self._collection = self._client.get_collection(self.collection_name)
            self._mismatch = None
            self._mirror = self._previous_mirror = None  # every vector changed
            return len(ids)

    # ---------------------------------------------------------------- search

    def _token(self) -> tuple[str, str]:
        """Change token: collection id (changes on reindex) + generation (every write)."""
        try:
            collection = self._client.get_collection(self.collection_name)
            self._collection = collection
            return (
                str(collection.id),
                str((collection.metadata or {}).get("latm_generation", "")),
            )
        except Exception as exc:
            raise self._store_error("read", exc) from exc

    def _invalidate_mirror(self) -> None:
        """Drop the vector cache after a write (its vectors stay reusable by the next load)."""
        mirror = self._mirror
        if mirror is not None:
            self._previous_mirror = mirror
        self._mirror = None

    def _sync_segments(self, generation: str) -> None:
        """Embedded mode: make this process's Chroma segments see other processes' writes.

        Each process applies Chroma's write-ahead log to its own in-memory vector segment
        only when it writes itself, so after another process wrote, reading vectors here
        fails (``Error finding id``) or returns the *old* vector of an id that was removed
        and added again. A no-op write (deleting an id that never exists) makes this process
        apply the pending log. Called under the inter-process lock, only when the store's
        generation is not one this process is known to be current with.
        """
        if self.path is None or generation == self._synced_generation:
            return
        try:
            self._col().delete(ids=[_SYNC_ID])
        except Exception as exc:
            raise self._store_error("read", exc) from exc
        self._synced_generation = generation

    def _load_mirror(self, previous: _Mirror | None) -> _Mirror:
        """Read the vectors and designated records into a fresh in-memory mirror.

        Embedded: under the inter-process lock (no writer mid-way, segments synced), so the
        mirror is exactly the store at ``token``. Server: the read may overlap writes; the
        mirror is tagged with the token read *before* the load, so any write that overlapped
        makes the next search load again.
        """
        if self.path is not None:
            with self._lock.hold():
                token = self._token()
                self._sync_segments(token[1])
                return self._read_mirror(token, previous)
        return self._read_mirror(self._token(), previous)

    def _read_mirror(self, token: tuple[str, str], previous: _Mirror | None) -> _Mirror:
        """Build the mirror from the store, reusing the previous mirror's unchanged vectors.

        Reads every id (one cheap call), the metadata of the designated (tool) records, and
        the vectors of records that are new or changed since ``previous``; use-case records
        are attributed to their version by id (``{name}@v{version}#{i}.{tool_id[:8]}``), so
        their metadata is never read here.
        """
        all_ids: builtins.list[str] = self._get(include=[])["ids"]
        designated: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:  # metadata lives in sqlite: consistent across processes
            page = self._get(
                where={"kind": "tool"}, include=["metadatas"], limit=_PAGE, offset=offset
            )
            for record_id, meta in zip(page["ids"], page["metadatas"] or [], strict=True):
                if (meta or {}).get("latm") == SCHEMA_VERSION:
                    designated[record_id] = dict(meta)
            if len(page["ids"]) < _PAGE:
                break
            offset += _PAGE
        reusable = previous if previous is not None and previous.token[0] == token[0] else None
        owners: dict[str, str] = {}  # searchable record id -> its designated record id
        vectors: dict[str, NDArray[np.float32]] = {}
        missing: builtins.list[str] = []
        for record_id in all_ids:
            owner = self._owner(record_id, designated)
            if owner is None:
                continue  # foreign record, or orphan vector of a version not stored
            owners[record_id] = owner
            key = self._freshness_key(designated[owner])
            cached = reusable.vectors.get(record_id) if reusable is not None else None
            if reusable is not None and cached is not None and cached[0] == key:
                vectors[record_id] = reusable.matrix[cached[1]]
            else:
                missing.append(record_id)
        for start in range(0, len(missing), _PAGE):
            vectors.update(self._fetch_vectors(missing[start : start + _PAGE]))
        return self._build_mirror(token, designated, owners, vectors)

    @staticmethod
    def _owner(record_id: str, designated: dict[str, dict[str, Any]]) -> str | None:
        """The designated record a searchable record belongs to (None: not searchable)."""
        if record_id in designated:
            return record_id
        head, sep, tail = record_id.rpartition("#")
        meta = designated.get(head) if sep else None
        if meta is None or tail.partition(".")[2] != str(meta.get("tool_id", ""))[:8]:
            return None
        return head

    @staticmethod
    def _freshness_key(meta: dict[str, Any]) -> str:
        """Identifies a version's vectors: a removed and re-added version gets a new key."""
        return f"{meta.get('tool_id')}|{meta.get('stored_at')}|{meta.get('embedding_id')}"

    def _fetch_vectors(self, ids: builtins.list[str]) -> dict[str, NDArray[np.float32]]:
        """The stored vectors of ``ids`` (ids deleted meanwhile are left out).

        While a write is being applied (server mode), Chroma's metadata can list an id that
        its vector segment does not hold yet, and a read including it fails with
        ``InternalError: Error finding id``. Such a read is retried briefly, then split in
        halves to isolate the ids in flight; a record whose vector still cannot be read is
        embedded again from its stored document (same embedding, enforced by
        ``embedding_id``), so the mirror never silently misses a stored tool.
        """
        for attempt in range(_VECTOR_READ_ATTEMPTS):
            try:
                got = self._get(ids=ids, include=["embeddings"])
            except RepositoryError as exc:
                if not self._is_vector_lag(exc):
                    raise
                logger.debug("vector read of %d ids hit Chroma's write lag", len(ids))
                if attempt + 1 < _VECTOR_READ_ATTEMPTS:
                    time.sleep(0.02 * 2**attempt)
                continue
            embs = got["embeddings"]
            return {
                record_id: np.asarray(embs[i], dtype=np.float32)
                for i, record_id in enumerate(got["ids"])
            }
        if len(ids) > 1:
            half = len(ids) // 2
            return {**self._fetch_vectors(ids[:half]), **self._fetch_vectors(ids[half:])}
        got = self._get(ids=ids, include=["documents"])
        if not got["ids"]:
            return {}
        logger.warning(
            "the vector of %s in %s could not be read from Chroma; re-embedded from its "
            "stored text",
            ids[0],
            self.location,
        )
        document = (got["documents"] or [""])[0] or ""
        return {got["ids"][0]: self._embed_documents([document])[0]}

    @staticmethod
    def _is_vector_lag(exc: RepositoryError) -> bool:
        cause = exc.__cause__
        return type(cause).__name__ == "InternalError" and "finding id" in str(cause)

    def _build_mirror(
        self,
        token: tuple[str, str],
        designated: dict[str, dict[str, Any]],
        owners: dict[str, str],
        vectors: dict[str, NDArray[np.float32]],
    ) -> _Mirror:
        rows: dict[tuple[str, int, str], builtins.list[str]] = {}
        for record_id in vectors:
            meta = designated[owners[record_id]]
            key = (str(meta.get("name")), self._version_of(meta), str(meta.get("tool_id")))
            rows.setdefault(key, []).append(record_id)
        latest: dict[str, int] = {}
        for meta in designated.values():
            name = str(meta.get("name"))
            latest[name] = max(latest.get(name, 0), self._version_of(meta))
        groups = sorted(rows)
        order = [record_id for g in groups for record_id in sorted(rows[g])]
        dim = len(vectors[order[0]]) if order else 0
        matrix = np.ascontiguousarray(
            np.stack([vectors[r] for r in order]).astype(np.float32, copy=False)
            if order
            else np.zeros((0, dim), dtype=np.float32)
        )
        sizes = np.asarray([len(rows[g]) for g in groups], dtype=np.intp)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp) if groups else (
            np.zeros(0, dtype=np.intp)
        )
        if groups:
            sums = np.add.reduceat(matrix, starts, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            centroids = np.ascontiguousarray((sums / norms).astype(np.float32))
        else:
            centroids = np.zeros((0, dim), dtype=np.float32)
        latest_mask = np.asarray([latest.get(g[0]) == g[1] for g in groups], dtype=np.bool_)
        by_record = {
            record_id: (self._freshness_key(designated[owners[record_id]]), row)
            for row, record_id in enumerate(order)
        }
        records = {
            _designated_id(str(m.get("name")), self._version_of(m)): m
            for m in designated.values()
        }
        return _Mirror(
            token,
            matrix,
            starts,
            centroids,
            groups,
            latest_mask,
            latest,
            records=records,
            vectors=by_record,
        )

    def _current_mirror(self) -> _Mirror:
        with self._mirror_lock:
            now = time.monotonic()
            mirror = self._mirror
            if mirror is not None and now - self._mirror_checked_at < self.refresh_interval:
                return mirror
            token = self._token()
            if mirror is None or mirror.token != token:
                mirror = self._mirror = self._load_mirror(mirror or self._previous_mirror)
                self._previous_mirror = None
            self._mirror_checked_at = now
            return mirror

    def _recall(self, text: str) -> NDArray[np.float32] | None:
        """A cached query vector (marked as recently used), or None."""
        with self._cache_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self._query_cache.move_to_end(text)
            return cached

    def _remember(self, texts: Sequence[str], vectors: Sequence[NDArray[np.float32]]) -> None:
        """Cache query vectors, evicting the least recently used beyond the cache size."""
        if not self._query_cache_size:
            return
        with self._cache_lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._query_cache[text] = vector
            while len(self._query_cache) > self._query_cache_size:
                self._query_cache.popitem(last=False)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """The query vector (LRU-cached), as used by :meth:`search`."""
        cached = self._recall(text)
        if cached is not None:
            return cached
        vector = np.asarray(self._embeddings.embed_query(text), dtype=np.float32)
        self._remember([text], [vector])
        return vector

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Query vectors for several texts: cached ones from the LRU, the rest in one pass."""
        vectors: dict[str, NDArray[np.float32]] = {}
        for text in dict.fromkeys(texts):
            cached = self._recall(text)
            if cached is not None:
                vectors[text] = cached
        missing = builtins.list(dict.fromkeys(t for t in texts if t not in vectors))
        if missing:
            fresh = builtins.list(_as_query_array(self._embeddings, missing))
            vectors.update(zip(missing, fresh, strict=True))
            self._remember(missing, fresh)
        return np.asarray([vectors[t] for t in texts], dtype=np.float32)

    def search(
        self,
        query: str,
        k: int = 3,
        *,
        all_versions: bool = False,
        skip_tampered: bool = False,
    ) -> builtins.list[tuple[WrappedTool, float]]:
        """Find the tools closest in meaning to a question.

        Args:
            query: The question (or any text).
            k: How many tools to return.
            all_versions: Score every stored version, not only the latest ones.
            skip_tampered: Skip (with a :class:`TamperedToolWarning`) hits whose stored
                content was modified, instead of raising.

        Returns:
            Up to ``k`` ``(tool, cosine similarity)`` pairs, best first, one per tool
            (version); a tool's score is its best vector (``aggregate="max"``) or its
            centroid (``aggregate="centroid"``).

        Raises:
            EmbeddingMismatchError: The store was built with another embedding.
            TamperedToolError: A hit was modified after it was stored.
        """
        self._require_embedding_match()
        return self.search_by_vector(
            self.embed_query(query), k, all_versions=all_versions, skip_tampered=skip_tampered
        )

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 3,
        *,
        all_versions: bool = False,
        skip_tampered: bool = False,
    ) -> builtins.list[builtins.list[tuple[WrappedTool, float]]]:
        """:meth:`search` for a batch of questions (one embedding pass, one matrix product)."""
        self._require_embedding_match()
        if not queries:
            return []
        vectors = self.embed_queries(queries)
        mirror = self._current_mirror()
        self._check_dimension(mirror, vectors)
        scores = self._group_scores(mirror, vectors, all_versions)
        return [
            self._top(mirror, scores[:, j], k, skip_tampered) for j in range(len(queries))
        ]

    def search_by_vector(
        self,
        vector: Sequence[float] | NDArray[np.float32],
        k: int = 3,
        *,
        all_versions: bool = False,
        skip_tampered: bool = False,
    ) -> builtins.list[tuple[WrappedTool, float]]:
        """:meth:`search` with a precomputed query vector."""
        self._require_embedding_match()
        mirror = self._current_mirror()
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        self._check_dimension(mirror, query)
        scores = self._group_scores(mirror, query, all_versions, k)
        return self._top(mirror, scores[:, 0], k, skip_tampered)

    def _check_dimension(self, mirror: _Mirror, queries: NDArray[np.float32]) -> None:
        if mirror.matrix.shape[0] and queries.shape[1] != mirror.matrix.shape[1]:
            raise EmbeddingMismatchError(
                f"query vectors have {queries.shape[1]} dimensions but the store holds "
                f"{mirror.matrix.shape[1]}; run `latm tools reindex`",
                stored=str(mirror.matrix.shape[1]),
                configured=str(queries.shape[1]),
            )

    def _group_scores(
        self, mirror: _Mirror, queries: NDArray[np.float32], all_versions: bool, k: int = 3
    ) -> NDArray[np.float32]:
        if not mirror.groups:
            return np.zeros((0, queries.shape[0]), dtype=np.float32)
        if self.aggregate == "centroid":
            scores = mirror.centroids @ queries.T
        elif (
            queries.shape[0] == 1
            and self.exact_rows_limit is not None
            and mirror.matrix.shape[0] > self.exact_rows_limit
        ):
            return self._two_stage_scores(mirror, queries, all_versions, k)
        else:
            scores = np.maximum.reduceat(mirror.matrix @ queries.T, mirror.starts, axis=0)
        if not all_versions:
            scores = np.where(mirror.latest_mask[:, None], scores, -np.inf)
        return cast("NDArray[np.float32]", scores)

    @staticmethod
    def _two_stage_scores(
        mirror: _Mirror, queries: NDArray[np.float32], all_versions: bool, k: int
    ) -> NDArray[np.float32]:
        """Centroid prefilter, then exact max-sim over the candidates' vectors."""
        coarse = mirror.centroids @ queries[0]
        if not all_versions:
            coarse = np.where(mirror.latest_mask, coarse, -np.inf)
        n = min(len(coarse), max(64, 8 * k))
        candidates = np.argpartition(-coarse, n - 1)[:n]
        candidates = candidates[np.isfinite(coarse[candidates])]
        ends = np.append(mirror.starts[1:], mirror.matrix.shape[0])
        rows = np.concatenate([np.arange(mirror.starts[g], ends[g]) for g in candidates])
        sizes = ends[candidates] - mirror.starts[candidates]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        exact = np.maximum.reduceat(mirror.matrix[rows] @ queries[0], offsets)
        scores = np.full((len(coarse), 1), -np.inf, dtype=np.float32)
        scores[candidates, 0] = exact
        return scores

    def _top(
        self, mirror: _Mirror, scores: NDArray[np.float32], k: int, skip_tampered: bool
    ) -> builtins.list[tuple[WrappedTool, float]]:
        if k <= 0 or scores.size == 0:
            return []
        valid = int(np.isfinite(scores).sum())
        want = min(valid, k + 8 if skip_tampered else k)
        if want == 0:
            return []
        candidates = np.argpartition(-scores, want - 1)[:want]
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        out: builtins.list[tuple[WrappedTool, float]] = []
        for i in candidates:
            name, version, _ = mirror.groups[i]
            record_id = _designated_id(name, version)
            tool = mirror.parsed.get(record_id)
            if tool is None:
                try:
                    tool = self._parse(record_id, mirror.records[record_id])
                except RepositoryError as exc:
                    tool = exc
                mirror.parsed[record_id] = tool
            if isinstance(tool, RepositoryError):
                if skip_tampered:
                    warnings.warn(f"skipped {record_id}: {tool}", TamperedToolWarning, stacklevel=3)
                    continue
                raise tool
            out.append((tool, float(scores[i])))
            if len(out) == k:
                break
        return out

    # ---------------------------------------------------------------- LangChain

    def as_retriever(self, **kwargs: Any) -> ToolRetriever:
        """A LangChain retriever over the stored tools (see ``langchain_latm.tools``)."""
        from langchain_latm.tools import ToolRetriever

        return ToolRetriever(repository=self, **kwargs)

    # ---------------------------------------------------------------- closing

    def close(self) -> None:
        """Release the store: close the embedded Chroma client this repository opened.

        A client passed in (``client=...``) belongs to the caller and is left open. Once
        closed, every operation that reads or writes the store raises
        :class:`~langchain_latm.errors.RepositoryError`; closing twice is a no-op.
        """
        client = self._client
        if isinstance(client, _Closed):
            return
        closed = _Closed(self.location)
        self._client = closed
        self._collection = closed
        with self._mirror_lock:
            self._mirror = self._previous_mirror = None
        if self._owns_client:
            client.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return isinstance(self._client, _Closed)

    def __enter__(self) -> ToolRepository:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ToolRepository(location={self.location!r}, collection={self.collection_name!r}, "
            f"embedding_id={self.embedding_id!r})"
        )
