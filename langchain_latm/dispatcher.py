"""The dispatcher: does a cached tool fit this question, and which one?

Routing is three cheap steps, no model call needed:

1. **Vector search** in the :class:`~langchain_latm.repository.ToolRepository` (dense
   max-similarity over each tool's description and use-case questions) gives a candidate
   pool.
2. **Re-ranking** of the pool with general, embedding-independent evidence computed from the
   tools' own use-case questions:

   * *lexical* similarity (word 1-2 grams, log tf, cosine; max over the use cases);
   * *shape* agreement: structural counts that are constant across a tool's use cases
     (number of answer options ``(A)``..., length of the longest enumerated list
     ``a, b, and c``) must match the question; a relative mismatch is penalised. This is
     what separates "the same puzzle with 3 / 5 / 7 objects" variants, which read almost
     identically;
   * *cohesion* normalisation: a tool whose use cases are lexically diverse (free-form
     questions) is expected to match new questions less closely than a templated one, so
     its score is divided by ``cohesion ** cohesion_power``.

   ``score = (w * dense + (1 - w) * lexical - shape_weight * mismatch) / cohesion ** p``.
3. **Threshold**: the best candidate is used only if its score reaches a threshold
   calibrated on data (:meth:`Dispatcher.calibrate`); otherwise the route is *unknown*
   (``Route.tool is None``: a new tool must be made). The shipped default for the default
   embedding was measured by ``latm bench dispatch`` on held-out BBH tasks.

Optionally, a cheap chat model confirms *close calls* (a best score within ``band`` of the
threshold, or a runner-up within ``margin`` of the best). Its answer must name a candidate
or ``NONE``; anything else (or a failed call) falls back to the vector decision and is
recorded in ``Route.reason``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from langchain_latm.dispatcher_prompts import (
    CANDIDATE_CARD,
    CONFIRM_SYSTEM,
    CONFIRM_USER,
    NONE_TOKEN,
)
from langchain_latm.errors import DispatchError
from langchain_latm.models import message_text as _message_text
from langchain_latm.schemas import Route, Usage, WrappedTool

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_THRESHOLDS",
    "TEMPLATE_MIN_WORDS",
    "Dispatcher",
    "RoutingScorer",
    "best_threshold",
    "shape_features",
    "template_of",
]

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLDS: dict[str, float] = {
    "minilm-l6-v2-int8": 0.46,  # queries cut to 22 head + 8 tail tokens (the default)
    "hashing-blake2b": 0.38,
    "hybrid": 0.40,  # its dense part embeds queries cut like MiniLM's
}
"""Shipped thresholds per embedding family (prefix of the repository's ``embedding_id``).

Calibrated (maximum balanced accuracy over 5 splits of 20 indexed / 10 held-out BBH tasks)
on BBH test questions 10-39, which ``latm bench dispatch`` then leaves out of its reported
numbers (see ``bench/results/dispatch.json``). For another embedding, or your own tools,
calibrate with :meth:`Dispatcher.calibrate`.
"""

DEFAULT_THRESHOLD = DEFAULT_THRESHOLDS["minilm-l6-v2-int8"]
"""Threshold used when the repository's embedding has no shipped value."""

_DEFAULT_UNUSED_COHESION = 0.5  # tools with fewer than 2 use-case questions
_MIN_COHESION = 0.2
_PROFILE_CACHE_SIZE = 20_000
# a tool's use cases must all open with at least this many identical words to have a template
TEMPLATE_MIN_WORDS = 6


class _SearchableRepository(Protocol):
    def search(self, query: str, k: int = ...) -> list[tuple[WrappedTool, float]]: ...


# --------------------------------------------------------------------------------------
# Features (pure functions, no model)
# --------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"[a-z0-9]+")
_OPTION_RE = re.compile(r"^\s*\(([A-Za-z])\)", re.MULTILINE)
_SENTENCE_RE = re.compile(r"(?<=[.!?;:])\s+|\n+")
_LIST_RE = re.compile(r",\s+(?:and|or)\s+", re.IGNORECASE)
_BARE_LIST_RE = re.compile(r",[^,]+\s(?:and|or)\s", re.IGNORECASE)

LexVector = dict[str, float]
_OPTIONAL_SHAPES = frozenset({"list"})


def _lex_vector(text: str) -> LexVector:
    """Word 1-2 gram bag, log term frequency, L2-normalised (a sparse dict)."""
    words = _WORD_RE.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    counts = Counter(grams)
    vector = {gram: 1.0 + math.log(n) for gram, n in counts.items()}
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {gram: v / norm for gram, v in vector.items()}


def _lex_cosine(a: LexVector, b: LexVector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(gram, 0.0) for gram, v in a.items())


def _option_count(text: str) -> int:
    return len(set(_OPTION_RE.findall(text)))


def _longest_list(text: str) -> int:
    """Items in the longest enumeration ``a, b, and c`` / ``a, b and c`` (0 if none)."""
    best = 0
    for sentence in _SENTENCE_RE.split(text):
        commas = sentence.count(",")
        if not commas:
            continue
        if _LIST_RE.search(sentence):
            best = max(best, commas + 1)
        elif _BARE_LIST_RE.search(sentence):
            best = max(best, commas + 2)
    return best


def shape_features(text: str) -> dict[str, int]:
    """Structural counts of a question, compared between a question and a tool's use cases.

    Args:
        text: A question.

    Returns:
        ``{"options": number of distinct "(X)" option lines, "list": items in the longest
        enumerated list such as "a, b, and c" (0 if none)}``.
    """
    return {"options": _option_count(text), "list": _longest_list(text)}


@dataclass(frozen=True)
class _Profile:
    """What the re-ranker needs about one tool (computed once per ``tool_id``)."""

    lex: tuple[LexVector, ...]
    constant_shape: dict[str, int]
    cohesion: float
    template: tuple[str, ...] = ()  # the opening words all its use-case questions share


def template_of(questions: Sequence[str]) -> tuple[str, ...]:
    """The words every question opens with, if at least :data:`TEMPLATE_MIN_WORDS` (else ``()``).

    Questions of a task family generated from one template (the families LATM caches tools
    for) open with the same words: "Sort the following words alphabetically: List: ...".

    Args:
        questions: A tool's use-case questions (at least two are needed).

    Returns:
        The shared opening, lower-cased word by word, or ``()``.
    """
    split = [_WORD_RE.findall(q.lower()) for q in questions if q.strip()]
    if len(split) < 2:
        return ()
    shared: list[str] = []
    for column in zip(*split, strict=False):
        if len(set(column)) != 1:
            break
        shared.append(column[0])
    return tuple(shared) if len(shared) >= TEMPLATE_MIN_WORDS else ()


def _profile_of(tool: WrappedTool) -> _Profile:
    questions = [c.question for c in tool.use_cases if c.question.strip()]
    texts = questions or [tool.description or tool.name]
    lex = tuple(_lex_vector(t) for t in texts)
    constant: dict[str, int] = {}
    if len(questions) >= 2:
        shapes = [shape_features(q) for q in questions]
        for key in shapes[0]:
            values = {s[key] for s in shapes}
            if len(values) == 1:
                constant[key] = values.pop()
        cohesion = sum(
            max(_lex_cosine(lex[i], lex[j]) for j in range(len(lex)) if j != i)
            for i in range(len(lex))
        ) / len(lex)
    else:
        cohesion = _DEFAULT_UNUSED_COHESION
    return _Profile(lex=lex, constant_shape=constant, cohesion=max(cohesion, _MIN_COHESION),
                    template=template_of(questions))


def _opens_with(words: tuple[str, ...], template: tuple[str, ...]) -> bool:
    return bool(template) and words[: len(template)] == template


@dataclass
class _HotTool:
    """A tool the full path chose recently, kept for the template fast path."""

    tool: WrappedTool
    score: float  # the full path's score when it chose the tool
    fast: int = 0  # fast routes to it so far


def _mismatch(question_shape: dict[str, int], constant: dict[str, int]) -> float:
    """Summed relative differences over the tool's constant shape features (0 = same).

    A feature counts only when the tool's use cases agree on it. Answer options count
    always (having options or not is part of a question's form); an enumeration counts
    only when both sides have one (wording can avoid lists). Summing makes several
    disagreeing structures (options *and* listed items, as in "5 vs 7 objects") weigh more
    than one small deviation (5 options instead of the usual 6).
    """
    total = 0.0
    for key, expected in constant.items():
        got = question_shape.get(key, 0)
        if got == expected or (key in _OPTIONAL_SHAPES and not (got and expected)):
            continue
        total += abs(got - expected) / max(got, expected)
    return total


class RoutingScorer:
    """Re-ranks vector-search candidates with lexical, shape and cohesion evidence.

    Stateless apart from a bounded per-``tool_id`` cache of tool profiles; thread-safe.

    Args:
        dense_weight: Weight ``w`` of the dense (embedding) similarity; ``1 - w`` goes to
            the lexical similarity.
        shape_weight: Penalty per unit of relative shape mismatch.
        cohesion_power: Exponent ``p`` of the cohesion normalisation (0 disables it).
        cache_size: How many tool profiles to keep.
    """

    def __init__(
        self,
        *,
        dense_weight: float = 0.6,
        shape_weight: float = 1.0,
        cohesion_power: float = 0.35,
        cache_size: int = _PROFILE_CACHE_SIZE,
    ) -> None:
        if not 0.0 <= dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be in [0, 1], got {dense_weight!r}")
        if shape_weight < 0 or cohesion_power < 0:
            raise ValueError("shape_weight and cohesion_power must be >= 0")
        self.dense_weight = dense_weight
        self.shape_weight = shape_weight
        self.cohesion_power = cohesion_power
        self._cache: OrderedDict[str, _Profile] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._lock = threading.Lock()

    def profile(self, tool: WrappedTool) -> _Profile:
        """The (cached) profile of a tool."""
        key = tool.tool_id
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        built = _profile_of(tool)
        with self._lock:
            self._cache[key] = built
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return built

    def components(self, question: str, tool: WrappedTool, dense: float) -> dict[str, float]:
        """Every term of the score of ``tool`` for ``question`` (for reasons and debugging)."""
        profile = self.profile(tool)
        qlex = _lex_vector(question)
        lexical = max(_lex_cosine(qlex, v) for v in profile.lex)
        mismatch = _mismatch(shape_features(question), profile.constant_shape)
        return self._combine(dense, lexical, mismatch, profile.cohesion)

    def _combine(
        self, dense: float, lexical: float, mismatch: float, cohesion: float
    ) -> dict[str, float]:
        raw = self.dense_weight * dense + (1 - self.dense_weight) * lexical
        raw -= self.shape_weight * mismatch
        score = raw / cohesion**self.cohesion_power
        return {
            "score": score,
            "dense": dense,
            "lexical": lexical,
            "mismatch": mismatch,
            "cohesion": cohesion,
        }

    def rerank(
        self, question: str, candidates: Sequence[tuple[WrappedTool, float]]
    ) -> list[tuple[WrappedTool, float, dict[str, float]]]:
        """Score every ``(tool, dense score)`` candidate; best first.

        Args:
            question: The incoming question.
            candidates: Vector-search hits with their dense cosine similarity.

        Returns:
            ``(tool, score, components)`` triples sorted by score, best first.
        """
        qlex = _lex_vector(question)
        qshape = shape_features(question)
        out: list[tuple[WrappedTool, float, dict[str, float]]] = []
        for tool, dense in candidates:
            profile = self.profile(tool)
            lexical = max(_lex_cosine(qlex, v) for v in profile.lex)
            parts = self._combine(
                float(dense), lexical, _mismatch(qshape, profile.constant_shape),
                profile.cohesion,
            )
            out.append((tool, parts["score"], parts))
        out.sort(key=lambda item: item[1], reverse=True)
        return out


# --------------------------------------------------------------------------------------
# Threshold calibration
# --------------------------------------------------------------------------------------


def best_threshold(
    known: Sequence[tuple[bool, float]], unknown: Sequence[float]
) -> tuple[float, float]:
    """The threshold that maximises balanced accuracy.

    A known question counts as correct when it was routed to the right tool *and* its score
    reaches the threshold; an unknown question when its score is below it.

    Args:
        known: ``(routed to the right tool, best score)`` per question of a stored task.
        unknown: Best score per question whose task has no stored tool.

    Returns:
        ``(threshold, balanced accuracy)``; the threshold sits midway between the two
        observed scores that bound the best interval.

    Raises:
        DispatchError: If ``known`` or ``unknown`` is empty.
    """
    if not known or not unknown:
        raise DispatchError("calibration needs at least one known and one unknown question")
    events: list[tuple[float, int, int]] = []  # (score, d_known_ok, d_unknown_ok) when thr > score
    for correct, score in known:
        if correct:
            events.append((score, -1, 0))
    for score in unknown:
        events.append((score, 0, 1))
    events.sort()
    n_known, n_unknown = len(known), len(unknown)
    known_ok = sum(1 for correct, _ in known if correct)
    unknown_ok = 0
    lowest = events[0][0] if events else 0.0
    best = (lowest - 1e-3, 0.5 * (known_ok / n_known + unknown_ok / n_unknown))
    i = 0
    while i < len(events):
        score = events[i][0]
        while i < len(events) and events[i][0] == score:
            known_ok += events[i][1]
            unknown_ok += events[i][2]
            i += 1
        upper = events[i][0] if i < len(events) else score + 2e-3
        balanced = 0.5 * (known_ok / n_known + unknown_ok / n_unknown)
        if balanced > best[1] + 1e-12:
            best = ((score + upper) / 2.0, balanced)
    return best


# --------------------------------------------------------------------------------------
# Dispatcher
# --------------------------------------------------------------------------------------


def _threshold_for(repository: Any) -> float:
    return _shipped_threshold(str(getattr(repository, "embedding_id", "") or ""))


def _shipped_threshold(ident: str) -> float:
    """The shipped threshold for an embedding id (:data:`DEFAULT_THRESHOLDS` by prefix)."""
    for prefix, value in DEFAULT_THRESHOLDS.items():
        if ident.startswith(prefix):
            return value
    if ident:
        logger.info(
            "no shipped dispatcher threshold for embedding %r; using %.3f (calibrate with "
            "Dispatcher.calibrate)", ident, DEFAULT_THRESHOLD,
        )
    return DEFAULT_THRESHOLD



def parse_choice(text: str, names: Sequence[str]) -> str | None:
    """Read a tool name (or ``NONE``) from a model reply.

    Args:
        text: The model's reply.
        names: The candidate tool names.

    Returns:
        The chosen name, ``"NONE"``, or ``None`` when the reply names nothing, or names
        several candidates, so that it cannot be trusted.
    """
    cleaned = text.strip().strip("`'\". \n\t")
    if cleaned in names:
        return cleaned
    if cleaned.upper() == NONE_TOKEN:
        return NONE_TOKEN
    found = {n for n in names if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text)}
    has_none = re.search(rf"\b{NONE_TOKEN}\b", text) is not None
    if len(found) == 1 and not has_none:
        return found.pop()
    if not found and has_none:
        return NONE_TOKEN
    return None


class Dispatcher:
    """Routes a question to a cached tool, or says that none fits (*unknown*).

    Args:
        repository: A :class:`~langchain_latm.repository.ToolRepository` (anything with
            ``search(query, k) -> [(WrappedTool, cosine)]``; ``search_many`` is used by
            :meth:`route_many` when present).
        llm: Optional cheap chat model that confirms close calls.
        threshold: Minimum score to use a tool; default: the shipped value for the
            repository's embedding (:data:`DEFAULT_THRESHOLDS`).
        k: How many candidates a :class:`~langchain_latm.schemas.Route` lists.
        margin: A runner-up within this score distance of the best is a close call.
        band: A best score within this distance of the threshold is a close call.
        pool: How many vector-search hits are re-ranked (at least ``k``).
        scorer: The re-ranker; default :class:`RoutingScorer` with the benchmarked weights.
        templates: How many recently chosen tools the template fast path keeps (0: off).
            A question that opens with the template all use cases of exactly one of them
            share (:func:`template_of`) and has their shape goes to that tool without an
            embedding or a search; :meth:`route_many` always searches.
        revalidate_every: Every this many fast routes to a tool, the question takes the full
            path instead; if that picks another tool (or none), the tool leaves the fast path.

    Example:
        >>> route = Dispatcher(repo).route("Sort the following words: pear apple")
        >>> route.tool.name if route.tool else "unknown"
        'sort_words'
    """

    def __init__(
        self,
        repository: Any,
        *,
        llm: BaseChatModel | None = None,
        threshold: float | None = None,
        k: int = 5,
        margin: float = 0.05,
        band: float = 0.08,
        pool: int = 10,
        scorer: RoutingScorer | None = None,
        templates: int = 64,
        revalidate_every: int = 16,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
        if templates < 0 or revalidate_every < 1:
            raise ValueError("templates must be >= 0 and revalidate_every >= 1")
        if margin < 0 or band < 0:
            raise ValueError("margin and band must be >= 0")
        self.repository = repository
        self.llm = llm
        self.threshold = float(threshold) if threshold is not None else _threshold_for(
            repository
        )
        self.k = k
        self.margin = margin
        self.band = band
        self.pool = max(pool, k)
        self.scorer = scorer or RoutingScorer()
        self.templates = templates
        self.revalidate_every = revalidate_every
        self.usage = Usage()
        self._usage_lock = threading.Lock()
        self._hot: OrderedDict[str, _HotTool] = OrderedDict()  # by tool_id, oldest first
        self._hot_lock = threading.Lock()

    # ------------------------------------------------------------------ routing

    @staticmethod
    def _check(question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise DispatchError("cannot route an empty question")
        return question

    def _decide(
        self, question: str, hits: Sequence[tuple[WrappedTool, float]]
    ) -> tuple[Route, bool]:
        """The vector decision, and whether it is a close call for the LLM."""
        if not hits:
            return Route(tool=None, score=0.0, candidates=[], reason="repository is empty"), False
        ranked = self.scorer.rerank(question, hits)
        best_tool, best, parts = ranked[0]
        candidates = [(tool, score) for tool, score, _ in ranked[: self.k]]
        detail = (
            f"score {best:.3f} (dense {parts['dense']:.3f}, lexical {parts['lexical']:.3f}, "
            f"shape mismatch {parts['mismatch']:.2f}, cohesion {parts['cohesion']:.2f})"
        )
        second = ranked[1][1] if len(ranked) > 1 else -math.inf
        close = abs(best - self.threshold) <= self.band or (
            best - second <= self.margin and second >= self.threshold - self.band
        )
        if best >= self.threshold:
            route = Route(
                tool=best_tool, score=best, candidates=candidates,
                reason=f"{best_tool.name}: {detail} >= threshold {self.threshold:.3f}",
            )
        else:
            route = Route(
                tool=None, score=best, candidates=candidates,
                reason=f"unknown: best {best_tool.name} {detail} < threshold "
                f"{self.threshold:.3f}",
            )
        return route, close

    def _template_route(self, question: str) -> Route | None:
        """The fast path (see ``templates``), or None to take the full path."""
        if not self.templates:
            return None
        with self._hot_lock:
            hot = list(self._hot.values())
        if not hot:
            return None
        words = tuple(_WORD_RE.findall(question.lower()))
        matches = [h for h in hot if _opens_with(words, self.scorer.profile(h.tool).template)]
        if len(matches) != 1:
            return None  # none, or two recent tools share the template: search
        entry = matches[0]
        profile = self.scorer.profile(entry.tool)
        if _mismatch(shape_features(question), profile.constant_shape):
            return None
        with self._hot_lock:
            entry.fast += 1
            if entry.fast % self.revalidate_every == 0:
                return None  # let the full path confirm (or drop) it
            self._hot.move_to_end(entry.tool.tool_id)
        tool = entry.tool
        return Route(
            tool=tool, score=entry.score, candidates=[(tool, entry.score)],
            reason=f"{tool.name}: opens with the {len(profile.template)}-word template all its "
            "use cases share and has their shape (template fast path: the full search chose "
            f"this tool for a question of this template, score {entry.score:.3f})",
        )

    def _learn(self, question: str, route: Route, *, clear: bool) -> None:
        """Update the fast path after a full-path decision.

        Tools whose template the question opens with but which were not chosen are dropped;
        the chosen tool is kept if the decision was ``clear`` (not a close call).
        """
        if not self.templates:
            return
        words = tuple(_WORD_RE.findall(question.lower()))
        chosen = route.tool
        with self._hot_lock:
            for key, entry in list(self._hot.items()):
                mismatched = chosen is None or chosen.tool_id != key
                if mismatched and _opens_with(words, self.scorer.profile(entry.tool).template):
                    del self._hot[key]
            if clear and chosen is not None and self.scorer.profile(chosen).template:
                prior = self._hot.pop(chosen.tool_id, None)
                self._hot[chosen.tool_id] = _HotTool(chosen, route.score,
                                                     prior.fast if prior else 0)
                while len(self._hot) > self.templates:
                    self._hot.popitem(last=False)

    def route(self, question: str) -> Route:
        """Route one question.

        Args:
            question: The incoming question.

        Returns:
            A :class:`~langchain_latm.schemas.Route`; ``route.tool is None`` means *unknown*
            (no cached tool fits: make one).

        Raises:
            DispatchError: The question is empty.
        """
        self._check(question)
        fast = self._template_route(question)
        if fast is not None:
            return fast
        hits = self.repository.search(question, k=self.pool)
        route, close = self._decide(question, hits)
        if close and self.llm is not None:
            route = self._confirm(question, route)
        self._learn(question, route, clear=not close)
        return route

    async def aroute(self, question: str) -> Route:
        """Async :meth:`route` (search runs in a worker thread; the LLM via ``ainvoke``)."""
        self._check(question)
        fast = self._template_route(question)
        if fast is not None:
            return fast
        hits = await asyncio.to_thread(self.repository.search, question, self.pool)
        route, close = self._decide(question, hits)
        if close and self.llm is not None:
            route = await self._aconfirm(question, route)
        self._learn(question, route, clear=not close)
        return route

    def route_many(self, questions: Sequence[str]) -> list[Route]:
        """Route a batch of questions (one embedding pass when the repository supports it).

        Raises:
            DispatchError: One of the questions is empty.
        """
        for q in questions:
            self._check(q)
        search_many = getattr(self.repository, "search_many", None)
        if callable(search_many):
            all_hits = search_many(list(questions), k=self.pool)
        else:
            all_hits = [self.repository.search(q, k=self.pool) for q in questions]
        routes: list[Route] = []
        for question, hits in zip(questions, all_hits, strict=True):
            route, close = self._decide(question, hits)
            if close and self.llm is not None:
                route = self._confirm(question, route)
            routes.append(route)
        return routes

    # ------------------------------------------------------------------ LLM confirmation

    def confirmation_messages(self, question: str, route: Route) -> list[tuple[str, str]]:
        """The chat messages sent to the LLM for a close call (``(role, content)`` pairs)."""
        cards = []
        for tool, _ in route.candidates:
            example = tool.use_cases[0].question if tool.use_cases else ""
            cards.append(
                CANDIDATE_CARD.format(
                    name=tool.name,
                    description=" ".join(tool.description.split())[:400],
                    example=" ".join(example.split())[:600],
                )
            )
        names = ", ".join(tool.name for tool, _ in route.candidates)
        user = CONFIRM_USER.format(
            question=question.strip(), cards="\n".join(cards), names=names, none=NONE_TOKEN
        )
        return [("system", CONFIRM_SYSTEM), ("human", user)]

    def _apply_choice(self, route: Route, reply: Any) -> Route:
        with self._usage_lock:
            self.usage = self.usage + Usage.from_message(reply)
        text = _message_text(reply)
        names = [tool.name for tool, _ in route.candidates]
        choice = parse_choice(text, names)
        if choice is None:
            snippet = " ".join(text.split())[:80]
            return route.model_copy(
                update={"reason": f"{route.reason}; LLM reply unusable ({snippet!r}): "
                        "kept the vector decision"}
            )
        if choice == NONE_TOKEN:
            return route.model_copy(
                update={"tool": None, "reason": f"{route.reason}; LLM confirmed: no tool fits"}
            )
        for tool, score in route.candidates:
            if tool.name == choice:
                return route.model_copy(
                    update={
                        "tool": tool, "score": score,
                        "reason": f"{route.reason}; LLM chose {choice}",
                    }
                )
        raise AssertionError("parse_choice returned a non-candidate")  # pragma: no cover

    def _llm_failed(self, route: Route, exc: Exception) -> Route:
        logger.warning("dispatcher LLM confirmation failed (%s: %s); keeping the vector "
                       "decision", type(exc).__name__, exc)
        return route.model_copy(
            update={"reason": f"{route.reason}; LLM call failed ({type(exc).__name__}): "
                    "kept the vector decision"}
        )

    def _confirm(self, question: str, route: Route) -> Route:
        if not route.candidates or self.llm is None:
            return route
        messages = self.confirmation_messages(question, route)
        try:
            reply = self.llm.invoke(messages)
        except Exception as exc:  # noqa: BLE001 - logged + recorded in Route.reason
            return self._llm_failed(route, exc)
        return self._apply_choice(route, reply)

    async def _aconfirm(self, question: str, route: Route) -> Route:
        if not route.candidates or self.llm is None:
            return route
        messages = self.confirmation_messages(question, route)
        try:
            reply = await self.llm.ainvoke(messages)
        except Exception as exc:  # noqa: BLE001 - logged + recorded in Route.reason
            return self._llm_failed(route, exc)
        return self._apply_choice(route, reply)

    # ------------------------------------------------------------------ calibration

    def calibrate(
        self,
        known: Sequence[tuple[str, str]],
        unknown: Sequence[str],
        *,
        apply: bool = True,
    ) -> float:
        """Fit the threshold on labelled questions (no LLM involved).

        Args:
            known: ``(question, name of the tool that should answer it)`` pairs whose tools
                are in the repository.
            unknown: Questions that no stored tool should answer.
            apply: Set :attr:`threshold` to the result (default True).

        Returns:
            The threshold maximising balanced accuracy (known routed right and accepted,
            unknown rejected).

        Raises:
            DispatchError: If either list is empty or a question is empty.
        """
        questions = [q for q, _ in known] + list(unknown)
        llm, self.llm = self.llm, None
        try:
            routes = self.route_many(questions) if questions else []
        finally:
            self.llm = llm
        known_scores = [
            (bool(r.candidates) and r.candidates[0][0].name == name, r.score)
            for (_, name), r in zip(known, routes[: len(known)], strict=True)
        ]
        unknown_scores = [r.score for r in routes[len(known):]]
        threshold, _ = best_threshold(known_scores, unknown_scores)
        if apply:
            self.threshold = threshold
        return threshold

    def __repr__(self) -> str:
        return (
            f"Dispatcher(repository={self.repository!r}, threshold={self.threshold:.3f}, "
            f"k={self.k}, llm={'yes' if self.llm is not None else 'no'})"
        )
