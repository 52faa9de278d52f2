"""Cost accounting: usage per role, a dated price table, and the paper's cost model.

LATM pays a strong model once per tool and a weak model once per question:

- ``C_direct(n) = n * c_strong`` — the strong model answers every question itself;
- ``C_LATM(n) = k * c_make + n * c_weak`` — ``k`` tools made by the strong model (the paper
  writes ``k * c_strong``: ``c_make`` is the strong model's cost of making one tool), then
  the weak model answers each question with a cached tool.

LATM is cheaper from the *break-even* ``n`` on: the smallest ``n`` with
``C_LATM(n) < C_direct(n)``, i.e. ``n > k * c_make / (c_strong - c_weak)``.

Usage comes from the models' ``usage_metadata`` (:class:`CostTracker` is a LangChain callback
handler that sorts it by role: maker, user, dispatcher). Prices are per million tokens, dated,
and overridable with a dict, a JSON file or ``$LATM_PRICES`` (a path or inline JSON).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import ChatGeneration, LLMResult
from pydantic import BaseModel, Field, ValidationError

from langchain_latm.errors import PriceNotFoundError
from langchain_latm.schemas import Usage, WrappedTool

__all__ = [
    "DEFAULT_PRICES",
    "PRICES_ENV",
    "CostReport",
    "CostTracker",
    "ModelPrice",
    "PriceTable",
    "RoleCost",
    "break_even_n",
    "cost_report",
    "cot_prompt_for",
    "direct_cost",
    "estimate_direct_usage",
    "estimate_tokens",
    "latm_cost",
    "usage_cost",
]

PRICES_ENV = "LATM_PRICES"
"""Environment variable with price overrides: a path to a JSON file, or inline JSON."""

ROLES = ("maker", "user", "dispatcher")


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text``: about 4 characters per token (0 for empty text).

    Used only where no measured usage exists (the demo's direct-answer estimate, offline
    fakes); reports label such numbers as estimates.

    Args:
        text: Any text.

    Returns:
        ``ceil(len(text) / 4)``.
    """
    return (len(text) + 3) // 4


class ModelPrice(BaseModel):
    """Price of one model in US dollars per million tokens.

    Attributes:
        input_per_1m: Dollars per million prompt tokens.
        output_per_1m: Dollars per million completion tokens.
        as_of: When the price was read (``YYYY-MM``), so stale prices are visible.
        source: Where it comes from (provider price page, the paper, a user file).
    """

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)
    as_of: str = ""
    source: str = ""

    def cost(self, usage: Usage) -> float:
        """Dollar cost of ``usage`` at this price."""
        return (
            usage.input_tokens * self.input_per_1m + usage.output_tokens * self.output_per_1m
        ) / 1_000_000


_OPENAI = "OpenAI API pricing page"
_PAPER = "LATM paper (Cai et al. 2023), per-1K prices x 1000"
DEFAULT_PRICES: dict[str, ModelPrice] = {
    # The paper's two models, at the prices the paper quotes (per 1K: $0.03/$0.06, $0.0015/$0.002).
    "gpt-4": ModelPrice(input_per_1m=30.0, output_per_1m=60.0, as_of="2023-06", source=_PAPER),
    "gpt-3.5-turbo": ModelPrice(
        input_per_1m=1.5, output_per_1m=2.0, as_of="2023-06", source=_PAPER
    ),
    "gpt-4-turbo": ModelPrice(
        input_per_1m=10.0, output_per_1m=30.0, as_of="2024-04", source=_OPENAI
    ),
    "gpt-4o": ModelPrice(input_per_1m=2.5, output_per_1m=10.0, as_of="2024-10", source=_OPENAI),
    "gpt-4o-mini": ModelPrice(
        input_per_1m=0.15, output_per_1m=0.6, as_of="2024-07", source=_OPENAI
    ),
    "gpt-4.1": ModelPrice(input_per_1m=2.0, output_per_1m=8.0, as_of="2025-04", source=_OPENAI),
    "gpt-4.1-mini": ModelPrice(
        input_per_1m=0.4, output_per_1m=1.6, as_of="2025-04", source=_OPENAI
    ),
    "gpt-4.1-nano": ModelPrice(
        input_per_1m=0.1, output_per_1m=0.4, as_of="2025-04", source=_OPENAI
    ),
    "o3-mini": ModelPrice(input_per_1m=1.1, output_per_1m=4.4, as_of="2025-01", source=_OPENAI),
}


def _coerce_price(model: str, value: Any, source: str) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    try:
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
            return ModelPrice(
                input_per_1m=float(value[0]), output_per_1m=float(value[1]), source=source
            )
        if isinstance(value, Mapping):
            data = dict(value)
            if "input_per_1k" in data or "output_per_1k" in data:
                data["input_per_1m"] = float(data.pop("input_per_1k", 0.0)) * 1000
                data["output_per_1m"] = float(data.pop("output_per_1k", 0.0)) * 1000
            if "input" in data or "output" in data:
                data["input_per_1m"] = data.pop("input", 0.0)
                data["output_per_1m"] = data.pop("output", 0.0)
            data.setdefault("source", source)
            return ModelPrice.model_validate(data)
    except (ValidationError, TypeError, ValueError) as exc:
        message = f"bad price for {model!r} in {source}: {exc}"
        raise PriceNotFoundError(message, model=model) from exc
    raise PriceNotFoundError(
        f"bad price for {model!r} in {source}: expected {{'input': $/1M, 'output': $/1M}} "
        f"or [input, output], got {value!r}",
        model=model,
    )


def _normalise_model(name: str) -> str:
    name = name.strip().lower()
    if ":" in name:  # init_chat_model style "openai:gpt-4o"
        name = name.split(":", 1)[1]
    if "/" in name:  # "openai/gpt-4o" style
        name = name.rsplit("/", 1)[1]
    return name


class PriceTable:
    """Per-model prices, looked up by exact name, then by the longest matching prefix.

    ``gpt-4o-mini-2024-07-18`` resolves to ``gpt-4o-mini``, ``openai:gpt-4`` to ``gpt-4``.

    Args:
        prices: Overrides or additions: ``{"model": {"input": $/1M, "output": $/1M}}``,
            ``{"model": [input, output]}`` or :class:`ModelPrice` values. Per-1K prices are
            accepted as ``{"input_per_1k": ..., "output_per_1k": ...}``.
        include_defaults: Start from :data:`DEFAULT_PRICES`.
        use_env: Also apply ``$LATM_PRICES`` (between the defaults and ``prices``).
    """

    def __init__(
        self,
        prices: Mapping[str, Any] | None = None,
        *,
        include_defaults: bool = True,
        use_env: bool = True,
    ) -> None:
        self._prices: dict[str, ModelPrice] = {}
        if include_defaults:
            self._prices.update(DEFAULT_PRICES)
        if use_env and os.environ.get(PRICES_ENV):
            self.update(_load_prices_source(os.environ[PRICES_ENV], PRICES_ENV))
        if prices:
            self.update(prices)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> PriceTable:
        """A table with the prices in a JSON file applied on top of the defaults."""
        return cls(_load_prices_source(str(path), str(path), must_be_path=True), **kwargs)

    def update(self, prices: Mapping[str, Any], *, source: str = "user") -> None:
        """Add or replace prices (same formats as the constructor)."""
        for model, value in prices.items():
            self._prices[_normalise_model(model)] = _coerce_price(model, value, source)

    def models(self) -> list[str]:
        """Every model with a price, sorted."""
        return sorted(self._prices)

    def find(self, model: str | None) -> ModelPrice | None:
        """The price of ``model``, or ``None`` if it has none."""
        if not model:
            return None
        name = _normalise_model(model)
        if name in self._prices:
            return self._prices[name]
        best = max(
            (m for m in self._prices if name.startswith(m + "-") or name.startswith(m + "@")),
            key=len,
            default=None,
        )
        return self._prices[best] if best is not None else None

    def get(self, model: str | None) -> ModelPrice:
        """The price of ``model``.

        Raises:
            PriceNotFoundError: No price is known; the message says how to add one.
        """
        price = self.find(model)
        if price is None:
            raise PriceNotFoundError(
                f"no price for model {model!r}; known: {', '.join(self.models())}. Add one with "
                f"${PRICES_ENV}='{{\"{model}\": {{\"input\": 1.0, \"output\": 2.0}}}}' "
                "($ per 1M tokens) or a JSON file",
                model=model,
            )
        return price

    def cost(self, usage: Usage, model: str | None = None) -> float:
        """Dollar cost of ``usage`` priced as ``model`` (default: ``usage.model``)."""
        return self.get(model or usage.model).cost(usage)


def _load_prices_source(value: str, source: str, *, must_be_path: bool = False) -> dict[str, Any]:
    text = value.strip()
    if must_be_path or not text.startswith("{"):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceNotFoundError(f"cannot read price file {path} ({source}): {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceNotFoundError(f"price overrides in {source} are not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PriceNotFoundError(f"price overrides in {source} must be a JSON object")
    return data


def usage_cost(usage: Usage, price: ModelPrice) -> float:
    """Dollar cost of ``usage`` at ``price`` (pure function)."""
    return price.cost(usage)


# --------------------------------------------------------------------------- cost model


def direct_cost(n: int, c_strong: float) -> float:
    """``C_direct(n) = n * c_strong``: the strong model answers all ``n`` questions.

    Args:
        n: Number of questions.
        c_strong: Strong model's cost of answering one question directly.
    """
    return n * c_strong


def latm_cost(n: int, *, k: int | float, c_make: float, c_weak: float) -> float:
    """``C_LATM(n) = k * c_make + n * c_weak``.

    Args:
        n: Number of questions.
        k: Number of tools made by the strong model.
        c_make: Strong model's cost of making one tool (all its propose/verify/wrap calls).
        c_weak: Weak model's cost of answering one question with a cached tool.
    """
    return k * c_make + n * c_weak


def break_even_n(*, k: int | float, c_make: float, c_strong: float, c_weak: float) -> int | None:
    """Smallest number of questions from which LATM is strictly cheaper than direct use.

    Solves ``k * c_make + n * c_weak < n * c_strong`` for the smallest integer ``n >= 1``.

    Args:
        k: Number of tools made.
        c_make: Cost of making one tool.
        c_strong: Strong model's cost per question when answering directly.
        c_weak: Weak model's cost per question with a tool.

    Returns:
        The break-even ``n``, or ``None`` when LATM never pays off
        (``c_weak >= c_strong`` with a positive making cost).
    """
    making = k * c_make
    margin = c_strong - c_weak
    if margin <= 0:
        return 1 if making < 0 else None
    n = max(1, math.floor(making / margin) + 1)
    # Guard against float rounding at the boundary.
    while latm_cost(n, k=k, c_make=c_make, c_weak=c_weak) >= direct_cost(n, c_strong):
        n += 1
    while n > 1 and latm_cost(n - 1, k=k, c_make=c_make, c_weak=c_weak) < direct_cost(
        n - 1, c_strong
    ):
        n -= 1
    return n


# --------------------------------------------------------------------------- tracking


class _RoleHandler(BaseCallbackHandler):
    """Callback handler that adds every chat model's usage to a tracker under one role."""

    def __init__(self, tracker: CostTracker, role: str) -> None:
        self.tracker = tracker
        self.role = role

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> Any:
        llm_output = response.llm_output or {}
        fallback = llm_output.get("model_name") or llm_output.get("model")
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration):
                    usage = Usage.from_message(generation.message)
                    if usage.model is None and fallback:
                        usage = usage.model_copy(update={"model": str(fallback)})
                    self.tracker.record(self.role, usage)


class CostTracker:
    """Token usage per role (maker / user / dispatcher) and per model.

    Feed it either explicitly (:meth:`record`) or as a LangChain callback handler:
    ``llm.invoke(..., config={"callbacks": [tracker.handler("user")]})``.

    Example:
        >>> tracker = CostTracker()
        >>> tracker.record("maker", Usage(input_tokens=1000, output_tokens=500, calls=1,
        ...                                model="gpt-4"))
        >>> round(tracker.cost(PriceTable(use_env=False))["maker"], 4)
        0.06
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: dict[tuple[str, str | None], Usage] = {}

    def handler(self, role: str) -> BaseCallbackHandler:
        """A callback handler that records usage under ``role``."""
        return _RoleHandler(self, role)

    def record(self, role: str, usage: Usage) -> None:
        """Add ``usage`` (one or more calls of ``usage.model``) under ``role``."""
        key = (role, usage.model)
        with self._lock:
            current = self._usage.get(key)
            self._usage[key] = usage if current is None else current + usage

    def record_many(self, role: str, usages: Iterable[Usage]) -> None:
        """Record several usages under ``role``."""
        for usage in usages:
            self.record(role, usage)

    def merge(self, other: CostTracker) -> None:
        """Add everything ``other`` recorded."""
        for (role, _model), usage in other.items():
            self.record(role, usage)

    def items(self) -> list[tuple[tuple[str, str | None], Usage]]:
        """``((role, model), usage)`` pairs, sorted by role then model."""
        with self._lock:
            return sorted(self._usage.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))

    def usage_by_role(self) -> dict[str, Usage]:
        """Total usage per role (models summed)."""
        totals: dict[str, Usage] = {}
        for (role, _model), usage in self.items():
            totals[role] = usage if role not in totals else totals[role] + usage
        return totals

    def cost(self, prices: PriceTable | None = None) -> dict[str, float]:
        """Dollar cost per role, each model priced separately.

        Raises:
            PriceNotFoundError: A recorded model has no price.
        """
        prices = prices or PriceTable()
        out: dict[str, float] = {}
        for (role, model), usage in self.items():
            out[role] = out.get(role, 0.0) + prices.cost(usage, model)
        return out

    def reset(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._usage.clear()


# --------------------------------------------------------------------------- reports


class RoleCost(BaseModel):
    """Usage and dollars of one role in a :class:`CostReport`."""

    role: str
    usage: Usage
    model: str
    dollars: float
    estimated: bool = False


class CostReport(BaseModel):
    """The paper's comparison for ``n`` questions, from measured (or estimated) usage.

    Attributes:
        n: Number of questions compared.
        k: Number of tools made.
        strong_model: Model priced as the strong one (maker and direct answers).
        weak_model: Model priced as the weak one (tool user).
        c_make: Mean dollars to make one tool.
        c_strong: Dollars per question answered directly by the strong model.
        c_weak: Dollars per question answered by the weak model with a tool.
        direct_total: ``C_direct(n)``.
        latm_total: ``C_LATM(n)``.
        break_even_n: Smallest ``n`` from which LATM is cheaper (``None``: never).
        roles: Per-role usage and cost behind the numbers.
        estimated: Which per-unit costs are estimates rather than measured usage.
        prices_as_of: Dates of the prices used.
    """

    n: int
    k: int
    strong_model: str
    weak_model: str
    c_make: float
    c_strong: float
    c_weak: float
    direct_total: float
    latm_total: float
    break_even_n: int | None
    roles: list[RoleCost] = Field(default_factory=list)
    estimated: list[str] = Field(default_factory=list)
    prices_as_of: dict[str, str] = Field(default_factory=dict)

    @property
    def savings(self) -> float:
        """``C_direct(n) - C_LATM(n)`` (negative when LATM costs more at this ``n``)."""
        return self.direct_total - self.latm_total


def cost_report(
    *,
    making_usage: Sequence[Usage],
    direct_usage_per_question: Usage,
    weak_usage_per_question: Usage,
    n: int,
    strong_model: str = "gpt-4",
    weak_model: str = "gpt-3.5-turbo",
    prices: PriceTable | None = None,
    estimated: Sequence[str] = (),
) -> CostReport:
    """Build a :class:`CostReport` from usage.

    Args:
        making_usage: Usage of making each tool (one entry per tool, ``k = len``).
        direct_usage_per_question: Strong model's usage for answering one question directly.
        weak_usage_per_question: Weak model's usage for answering one question with a tool.
        n: Number of questions to compare for.
        strong_model: Price the maker and the direct answers as this model.
        weak_model: Price the tool user as this model.
        prices: Price table (default: :class:`PriceTable`).
        estimated: Names of the inputs that are estimates (shown in the report).

    Raises:
        PriceNotFoundError: A model has no price.
    """
    prices = prices or PriceTable()
    strong = prices.get(strong_model)
    weak = prices.get(weak_model)
    k = len(making_usage)
    total_making = Usage()
    for usage in making_usage:
        total_making = total_making + usage
    making_dollars = strong.cost(total_making)
    c_make = making_dollars / k if k else 0.0
    c_strong = strong.cost(direct_usage_per_question)
    c_weak = weak.cost(weak_usage_per_question)
    est = set(estimated)
    roles = [
        RoleCost(role="maker", usage=total_making.model_copy(update={"model": strong_model}),
                 model=strong_model, dollars=making_dollars, estimated="maker" in est),
        RoleCost(role="direct (per question)",
                 usage=direct_usage_per_question.model_copy(update={"model": strong_model}),
                 model=strong_model, dollars=c_strong, estimated="direct" in est),
        RoleCost(role="user (per question)",
                 usage=weak_usage_per_question.model_copy(update={"model": weak_model}),
                 model=weak_model, dollars=c_weak, estimated="user" in est),
    ]
    return CostReport(
        n=n,
        k=k,
        strong_model=strong_model,
        weak_model=weak_model,
        c_make=c_make,
        c_strong=c_strong,
        c_weak=c_weak,
        direct_total=direct_cost(n, c_strong),
        latm_total=latm_cost(n, k=k, c_make=c_make, c_weak=c_weak),
        break_even_n=break_even_n(k=k, c_make=c_make, c_strong=c_strong, c_weak=c_weak),
        roles=roles,
        estimated=sorted(est),
        prices_as_of={strong_model: strong.as_of, weak_model: weak.as_of},
    )


_COT_ANSWER = re.compile(r"^A:(.*?)(?=^Q:|\Z)", re.DOTALL | re.MULTILINE)


def estimate_direct_usage(
    questions: Sequence[str], *, cot_prompt: str | None = None, answer_tokens: int = 250
) -> Usage:
    """Estimated strong-model usage per question when it answers directly (paper's CoT baseline).

    Input is the few-shot chain-of-thought prompt plus the question; output is the mean
    length of the prompt's own worked answers (or ``answer_tokens`` without a prompt).
    Token counts use :func:`estimate_tokens`: label the result as an estimate.

    Args:
        questions: The questions to be answered (their mean length is used).
        cot_prompt: The task's few-shot CoT prompt (``bbh-cot/<task>.txt``), if available.
        answer_tokens: Output tokens to assume when there is no CoT prompt.

    Returns:
        Mean usage of one question (``calls=1``).
    """
    if not questions:
        return Usage(calls=1)
    prompt_tokens = 0
    output_tokens = answer_tokens
    if cot_prompt:
        body = cot_prompt
        if body.lstrip().startswith("BENCHMARK DATA") and "-----" in body:
            body = body.split("-----", 1)[1]
        prompt_tokens = estimate_tokens(body)
        answers = [a.strip() for a in _COT_ANSWER.findall(body)]
        if answers:
            output_tokens = round(sum(estimate_tokens(a) for a in answers) / len(answers))
    question_tokens = sum(estimate_tokens(f"\n\nQ: {q}\nA: Let's think step by step.")
                          for q in questions) / len(questions)
    return Usage(
        input_tokens=round(prompt_tokens + question_tokens),
        output_tokens=output_tokens,
        calls=1,
    )


def cot_prompt_for(task: str, data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The paper's few-shot CoT prompt of ``task`` (``bbh-cot/<task>.txt``), if available.

    Args:
        task: Task name.
        data_dir: Data root (see :func:`~langchain_latm.tasks.find_data_dir`).

    Returns:
        The prompt text, or ``None`` when there is no CoT prompt for this task here.
    """
    from langchain_latm.errors import LATMError
    from langchain_latm.tasks import find_data_dir

    try:
        path = find_data_dir(data_dir, kind="bbh-cot") / f"{task}.txt"
    except LATMError:
        return None
    try:
        return path.read_text(encoding="utf-8") if path.is_file() else None
    except OSError:
        return None


def tools_making_usage(tools: Iterable[WrappedTool]) -> list[Usage]:
    """The recorded maker usage of each tool (``WrappedTool.usage``)."""
    return [tool.usage for tool in tools]
